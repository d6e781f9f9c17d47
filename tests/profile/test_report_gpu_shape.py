"""The report writer on results shaped like GPU ones (memory, telemetry, roofline), so the
GPU-only sections are exercised without a GPU."""

import random

import pandas as pd
import pytest

from vimbench.profile.breakdown import KernelRecord, category_table, kernel_table
from vimbench.profile.command import write_report
from vimbench.profile.memory import MemoryBreakdown
from vimbench.profile.roofline import Ceilings, ScanShape, scan_roofline
from vimbench.profile.session import ProfileResult

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _gpu_result(model, variant, resolution, batch, records, with_scan):
    target = {"model": model, "variant": variant, "resolution": resolution, "batch": batch,
              "precision": "amp-fp16", "exec_mode": "eager", "purpose": "measure", "repeat": 0}
    slug = f"{model}-{variant}-r{resolution}-b{batch}"
    cats, kernels = category_table(records, 3), kernel_table(records, 3)
    busy = float(cats["ms_per_iter"].sum())
    summary = {"latency_ms_median": busy * 1.1, "images_per_s": batch / (busy * 1.1e-3), "latency_cv": 0.01,
               "profiled_ms_per_iter": busy, "profiled_time": "device kernel time", "gpu_busy_fraction": 1 / 1.1,
               "power_w_mean": 512.0, "sm_clock_mhz_mean": 1980.0, "sm_clock_mhz_min": 1755.0,
               "temperature_c_max": 61, "throttle_reasons": None, "telemetry_samples": 50,
               "energy_j_per_image": 0.01, "images_per_joule": 100.0, "energy_source": "nvml_energy_counter"}
    if with_scan:
        shape = ScanShape(24, 2, 384, 16, (resolution // 16) ** 2 + 1, batch, 2)
        scan_ms = float(cats.set_index("category").loc["scan", "ms_per_iter"])
        summary.update(scan_roofline(shape, scan_ms, True, Ceilings(3.0e12, 4.1e12, "measured (test)")))
    base = random.randint(10, 100) * 2**20
    timeline = [(0, base)] + [(i, base + random.randint(0, 2**30)) for i in range(1, 200)]
    peak = max(b for _, b in timeline)
    memory = MemoryBreakdown(peak_allocated_bytes=peak, peak_reserved_bytes=peak + 2**28, weights_bytes=base // 2,
                             input_bytes=base // 4, resident_bytes=base - base // 2 - base // 4,
                             activations_bytes=peak - base, allocator_slack_bytes=2**28,
                             nvml_process_bytes=peak + 2**29, timeline=timeline,
                             peak_holders=[("models/vim.py:120 forward", peak - base)])
    samples = [{"t": 0.02 * i, "power_w": 500 + random.random() * 20, "sm_clock_mhz": 1980, "temperature_c": 60,
                "reasons": 0} for i in range(50)]
    return ProfileResult(target=target, label=f"{model} {variant} {resolution}px b{batch} amp-fp16", slug=slug,
                         device="cuda", gpu_name="NVIDIA H100 80GB HBM3", tokens=(resolution // 16) ** 2 + 1,
                         params=7_000_000, summary=summary, categories=cats, kernels=kernels, memory=memory,
                         telemetry_samples=samples)


def test_gpu_shaped_report(tmp_path):
    vim_records = [KernelRecord("_bidirectional_scan_kernel", (), random.uniform(1e4, 5e4), 72),
                   KernelRecord("nvjet_tst_128x64", ("aten::mm", "aten::linear"), random.uniform(1e4, 5e4), 216),
                   KernelRecord("_add_rmsnorm_kernel", (), random.uniform(1e3, 5e3), 72)]
    deit_records = [KernelRecord("flash_fwd_kernel", (), random.uniform(1e4, 5e4), 36),
                    KernelRecord("Memcpy DtoD (Device -> Device)", ("aten::copy_",), 100.0, 3)]
    results = [_gpu_result("vim_tiny", "triton", 1248, 128, vim_records, True),
               _gpu_result("deit_tiny", "sdpa", 1248, 128, deit_records, False),
               _gpu_result("deit_tiny", "sdpa", 224, 128, deit_records, False)]
    oom = ProfileResult(target=dict(results[1].target, variant="eager"), label="deit_tiny eager 1248px b128",
                        slug="oom", device="cuda", status="oom", error="CUDA out of memory")
    path = write_report(results + [oom], tmp_path, "vimbench profile --test", top_n=5)
    text = path.read_text()
    for section in ("## Memory (one forward, GPU)", "What holds the peak", "models/vim.py:120 forward",
                    "## Telemetry during the timed loop (NVML)", "## Scan roofline", "measured (test)",
                    "oom: CUDA out of memory", "NVIDIA H100 80GB HBM3"):
        assert section in text, section
    for name in ("categories.png", "memory.png", "telemetry.png", "roofline.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC, name
    memory = pd.read_csv(tmp_path / "memory.csv")
    for r in results:
        parts = memory[memory["cell"] == r.slug]["bytes"]
        assert parts.sum() == pytest.approx(r.memory.nvml_process_bytes)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert list(summary["status"]) == ["ok", "ok", "ok", "oom"]
    vim = summary.iloc[0]
    assert vim["scan_fraction_of_copy_bw"] == pytest.approx(
        vim["scan_min_bytes"] / (vim["scan_ms_per_forward"] / 1e3) / 3.0e12)
    assert len(pd.read_csv(tmp_path / "telemetry.csv")) == 150
