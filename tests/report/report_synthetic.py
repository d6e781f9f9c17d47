"""Small synthetic run directories for the report tests (rows as the harness writes them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from vimbench.results import Row, append_row

H100_BYTES = 85_051_572_224  # torch total_memory of an H100 80GB HBM3
RESOLUTIONS = (512, 640, 736, 1024, 1248)


def tokens(resolution: int) -> int:
    return (resolution // 16) ** 2 + 1


def row(model: str, variant: str, resolution: int, batch: int = 128, precision: str = "fp32",
        status: str = "ok", ips: float | None = None, mem: float | None = None, purpose: str = "measure",
        exec_mode: str = "eager", gpu: str = "NVIDIA H100 80GB HBM3", **extra) -> Row:
    """One row; `mem` (bytes) fills allocated, reserved = 1.1x, NVML = reserved + 0.5 GB."""
    ok = status == "ok"
    fields = {
        "cell_id": f"{model}-{variant}-{resolution}-{batch}-{precision}-{exec_mode}-{purpose}", "suite": "test",
        "model": model, "variant": variant, "resolution": resolution, "batch": batch, "precision": precision,
        "exec_mode": exec_mode, "purpose": purpose, "tokens": tokens(resolution), "status": status,
        "attention": variant if model.startswith("deit") else None,
        "scan_backend": variant if model.startswith("vim") else None,
        "images_per_s": ips if ok else None,
        "latency_ms_median": (batch / ips * 1e3) if ok and ips else None,
        "latency_cv": 0.01 if ok else None,
        "mem_max_allocated_bytes": int(mem) if ok and mem is not None else None,
        "mem_max_reserved_bytes": int(mem * 1.1) if ok and mem is not None else None,
        "mem_nvml_process_bytes": int(mem * 1.1 + 5e8) if ok and mem is not None else None,
        "error": "RuntimeError: boom" if status == "error" else None,
        "device": "cuda", "gpu_name": gpu, "git_commit": "0123456789abcdef", "torch_version": "2.11.0",
        # as the harness writes a graph's row: its peak counts the capture (report.load blanks rows without)
        "mem_graph_capture_peak_bytes": int(mem) if ok and mem is not None and exec_mode == "cuda_graph" else None,
    }
    fields.update(extra)
    return Row(**fields)


def write_run(directory: Path, rows: list[Row], env: dict | None = None, suite: str | None = "name = 'test'\n") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for r in rows:
        append_row(directory / "results.jsonl", r)
    if env is not None:
        (directory / "env.json").write_text(json.dumps(env), encoding="utf-8")
    if suite is not None:
        (directory / "suite.toml").write_text(suite, encoding="utf-8")
    return directory


def highres_rows(rng: np.random.Generator, batch: int = 128, precision: str = "fp32",
                 deit_eager_oom_at: int = 1248, probes: tuple[int, ...] = (8, 16, 32),
                 speed_1248: float | None = None, gpu: str = "NVIDIA H100 80GB HBM3") -> list[Row]:
    """DeiT-Ti eager/sdpa and Vim-Ti triton over the paper's resolutions, with random values.

    Eager DeiT memory grows with tokens^2 and OOMs at `deit_eager_oom_at`; its probes follow an
    exact line a + b * batch (random a, b) so the estimate is checkable.
    """
    rows = []
    for res in RESOLUTIONS:
        t = tokens(res)
        vim_ips = float(rng.uniform(50, 400)) * (512 / res) ** 1.2
        vim_mem = float(rng.uniform(2e9, 4e9)) * t / tokens(512)
        rows.append(row("vim_tiny", "triton", res, batch, precision, ips=vim_ips, mem=vim_mem, gpu=gpu))
        sdpa_ips = vim_ips / float(rng.uniform(0.8, 2.0))
        rows.append(row("deit_tiny", "sdpa", res, batch, precision, ips=sdpa_ips,
                        mem=vim_mem * float(rng.uniform(1.2, 2.5)), gpu=gpu))
        if res >= deit_eager_oom_at:
            rows.append(row("deit_tiny", "eager", res, batch, precision, status="oom", gpu=gpu))
            a, b = float(rng.uniform(0.3e9, 1e9)), float(rng.uniform(0.5e9, 1e9))
            for pb in probes:
                rows.append(row("deit_tiny", "eager", res, pb, precision, ips=float(rng.uniform(5, 50)),
                                mem=a + b * pb, purpose="oom_estimate", gpu=gpu))
        else:
            eager_ips = speed_1248 and res == 1248 and vim_ips / speed_1248 or vim_ips / float(rng.uniform(0.9, 3.0))
            rows.append(row("deit_tiny", "eager", res, batch, precision, ips=eager_ips,
                            mem=vim_mem * float(rng.uniform(1.5, 9.0)), gpu=gpu))
    return rows
