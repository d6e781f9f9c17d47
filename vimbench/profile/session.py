"""Profile one cell: build it, warm it up, then four passes that do not disturb each other.

    1. timed loop (vimbench.timing) with NVML sampling on a thread (vimbench.telemetry):
       latency, images/s, power, SM clock, temperature, throttle reasons, energy per image
    2. torch.profiler over a few forwards: time per kernel (GPU) or operator (CPU) and per
       category, and the Chrome trace
    3. one forward with the allocator's history recorded: what holds the peak memory
    4. roofline of the scan kernels against copy bandwidth and exp2 rate measured here

On a CPU passes 1 (latency only), 2 and nothing else run; the others say why they did not.
"""

from __future__ import annotations

import gzip
import os
import shutil
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .breakdown import annotate_modules, category_table, cpu_op_records, kernel_table
from .trace import load_trace, trace_kernel_records

NVML_NOT_ON_CPU = "NVML telemetry: not available on CPU"
ROOFLINE_NOT_ON_CPU = "roofline: not available on CPU (needs CUDA events and a GPU copy-bandwidth ceiling)"
SCAN_RANGE = "vimbench:selective_scan"


@dataclass(frozen=True)
class ProfileSettings:
    warmup_iters: int = 3
    timed_iters: int = 10
    timed_min_s: float = 2.0     # keep the timed loop long enough for NVML's power readings
    profile_iters: int = 3
    top_n: int = 15
    trace: bool = True
    memory_history: bool = True
    roofline: bool = True


@dataclass
class ProfileResult:
    target: dict[str, Any]
    label: str
    slug: str
    device: str
    status: str = "ok"                       # ok | oom | error
    error: str | None = None
    gpu_name: str | None = None
    tokens: int | None = None
    params: int | None = None
    summary: dict[str, Any] = field(default_factory=dict)     # scalar metrics, one CSV row
    categories: Any = None                   # DataFrame: category, label, ms_per_iter, share
    kernels: Any = None                      # DataFrame: kernel, category, calls/ms per iter, share
    memory: Any = None                       # memory.MemoryBreakdown
    telemetry_samples: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    trace_path: str | None = None


def cell_slug(cell) -> str:
    return f"{cell.model}-{cell.variant}-r{cell.resolution}-b{cell.batch}-{cell.precision}-{cell.exec_mode}"


def resolve_device(requested: str) -> str:
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is visible (use --device cpu or auto)")
    return requested


def profile_cell(cell, device: str, settings: ProfileSettings, out_dir: Path, ceilings=None) -> ProfileResult:
    """Profile one cell; an OOM or any other failure becomes a result with that status."""
    import torch

    result = ProfileResult(target=asdict(cell), label=cell.label(), slug=cell_slug(cell), device=device)
    try:
        _profile(cell, device, settings, Path(out_dir), result, ceilings)
    except torch.cuda.OutOfMemoryError as exc:
        result.status, result.error = "oom", str(exc).splitlines()[0]
    except Exception as exc:  # noqa: BLE001 - an error row with its traceback, the other cells go on
        result.status, result.error = "error", f"{type(exc).__name__}: {exc}"
        result.notes.append(traceback.format_exc(limit=6))
    finally:
        if device == "cuda":
            torch.cuda.empty_cache()
    return result


def _profile(cell, device, settings, out_dir, result, ceilings):
    import torch

    from vimbench import timing
    from vimbench.exec_modes import prepare
    from vimbench.models import create_model, get_model_spec
    from vimbench.precision import get_policy

    policy = get_policy(cell.precision)
    spec = get_model_spec(cell.model)
    result.tokens = spec.tokens(cell.resolution)
    if device == "cuda":
        policy.set_tf32()
        result.gpu_name = torch.cuda.get_device_name()
    model = create_model(cell.model, cell.variant, cell.resolution)
    result.params = sum(p.numel() for p in model.parameters())
    model = model.to(device=device, dtype=policy.torch_param_dtype()).eval()
    images = torch.randn(cell.batch, 3, cell.resolution, cell.resolution, device=device,
                         dtype=policy.torch_param_dtype())
    autocast = getattr(torch, policy.autocast_dtype) if policy.autocast_dtype else None
    run, setup_s = prepare(model.forward_features, images, cell.exec_mode, autocast_dtype=autocast)
    forward = lambda: run(images)

    # 1. timed loop with telemetry
    timing_settings = timing.TimingSettings(warmup_min_iters=settings.warmup_iters, warmup_min_s=0.0,
                                            iters=settings.timed_iters, min_time_s=settings.timed_min_s)
    sampler_box: dict[str, Any] = {}
    if device == "cuda":
        from vimbench import telemetry

        def start_sampler():
            sampler_box["sampler"] = telemetry.TelemetrySampler().__enter__()
        measured = timing.measure(forward, device, timing_settings, on_timed_start=start_sampler)
        sampler = sampler_box["sampler"]
        sampler.__exit__(None, None, None)
        result.summary.update(_telemetry_summary(sampler, len(measured.samples_ms) * cell.batch))
        result.telemetry_samples = _relative_samples(sampler.samples)
        if sampler.summary.get("note"):
            result.notes.append(sampler.summary["note"])
    else:
        measured = timing.measure(forward, device, timing_settings)
        result.notes.append(NVML_NOT_ON_CPU)
    stats = timing.summarize(measured.samples_ms, cell.batch)
    result.summary.update({
        "timer": measured.timer, "latency_ms_median": stats.median_ms, "latency_ms_p10": stats.p10_ms,
        "latency_ms_p90": stats.p90_ms, "latency_cv": stats.cv, "images_per_s": stats.images_per_s,
        "n_samples": stats.n, "first_call_ms": measured.first_call_ms, "setup_s": setup_s,
    })

    # 2. torch.profiler
    records, iters = _profile_ops(model, forward, device, settings, cell, out_dir, result)
    cats = category_table(records, iters)
    result.categories = cats
    result.kernels = kernel_table(records, iters)
    busy_ms = float(cats["ms_per_iter"].sum())
    result.summary["profiled_ms_per_iter"] = busy_ms
    result.summary["profiled_time"] = "device kernel time" if device == "cuda" else "CPU self time of operators"
    if device == "cuda" and stats.median_ms > 0:
        # Kernel time over wall time: below 1 the GPU waits for the host (launch gaps).
        result.summary["gpu_busy_fraction"] = busy_ms / stats.median_ms
    for row in cats.itertuples():
        result.summary[f"share_{row.category}"] = row.share

    # 3. memory
    if device == "cuda":
        from vimbench import telemetry

        from .memory import measure_forward_memory

        result.memory = measure_forward_memory(
            model, images, forward, nvml_process_bytes=lambda: telemetry.process_memory()[0],
            record_history=settings.memory_history)
        result.summary.update({
            "mem_peak_allocated_bytes": result.memory.peak_allocated_bytes,
            "mem_peak_reserved_bytes": result.memory.peak_reserved_bytes,
            "mem_weights_bytes": result.memory.weights_bytes,
            "mem_activations_bytes": result.memory.activations_bytes,
            "mem_nvml_process_bytes": result.memory.nvml_process_bytes,
        })
        if result.memory.note:
            result.notes.append(result.memory.note)
    else:
        from .memory import NOT_ON_CPU

        result.notes.append(NOT_ON_CPU)

    # 4. roofline of the scan
    if device == "cuda" and settings.roofline:
        result.summary.update(_roofline(model, cell, result, policy, ceilings))
    elif device != "cuda":
        result.notes.append(ROOFLINE_NOT_ON_CPU)


def _profile_ops(model, forward, device, settings, cell, out_dir, result):
    import torch
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device == "cuda" else [])
    # Hooks and wrappers only where Python runs each forward (not in graph replay or compiled code).
    eager = cell.exec_mode == "eager"
    with annotate_modules(model) if eager else _nullcontext(), _scan_ranges(model) if eager else _nullcontext():
        forward()  # the hooks' first pass outside the profile
        if device == "cuda":
            torch.cuda.synchronize()
        with profile(activities=activities) as prof:
            for _ in range(settings.profile_iters):
                forward()
            if device == "cuda":
                torch.cuda.synchronize()
    # On a GPU the kernels are read from the exported trace: each kernel event once, its
    # context from its launch call (see trace.py); on a CPU the operator tree is exact.
    records = None if device == "cuda" else cpu_op_records(prof.events())
    if settings.trace or device == "cuda":
        trace = Path(out_dir) / f"trace-{result.slug}.json"
        prof.export_chrome_trace(str(trace))
        if records is None:
            records = trace_kernel_records(load_trace(trace))
        if settings.trace:
            with open(trace, "rb") as src, gzip.open(f"{trace}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            result.trace_path = f"{trace}.gz"
        os.remove(trace)
    return records, settings.profile_iters


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _scan_ranges:
    """Wrap every module attribute that holds a scan function (an instance attribute whose
    name contains "scan", e.g. the Vim mixer's `_bidirectional_scan`) in a profiler range,
    so the categoriser sees the scan even when it runs as plain PyTorch operators."""

    def __init__(self, model):
        self.model = model
        self.saved: list[tuple[Any, str, Any]] = []

    def __enter__(self):
        import torch

        for module in self.model.modules():
            for name, value in list(vars(module).items()):
                if "scan" in name.lower() and callable(value) and not isinstance(value, torch.nn.Module):
                    self.saved.append((module, name, value))
                    setattr(module, name, _ranged(value))
        return self

    def __exit__(self, *exc):
        for module, name, value in self.saved:
            setattr(module, name, value)
        self.saved.clear()
        return False


def _ranged(fn):
    import torch

    def scan_in_range(*args, **kwargs):
        with torch.profiler.record_function(SCAN_RANGE):
            return fn(*args, **kwargs)
    return scan_in_range


def _telemetry_summary(sampler, images: int) -> dict[str, Any]:
    s = sampler.summary
    out = {key: s.get(key) for key in ("power_w_mean", "power_w_max", "sm_clock_mhz_mean", "sm_clock_mhz_min",
                                        "temperature_c_max", "energy_j", "energy_source", "slowdown_fraction")}
    out["throttle_reasons"] = ",".join(s.get("throttle_reasons") or []) or None
    out["telemetry_samples"] = s.get("n_samples")
    energy = s.get("energy_j")
    if energy and images:
        out["energy_j_per_image"] = energy / images
        out["images_per_joule"] = images / energy
    return out


def _relative_samples(samples: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if not samples:
        return []
    t0 = samples[0]["t"]
    return [{**s, "t": s["t"] - t0} for s in samples]


def _roofline(model, cell, result, policy, ceilings) -> dict[str, Any]:
    from .roofline import scan_roofline, scan_shape_from_model

    elem_bytes = 4 if (policy.autocast_dtype is None and policy.param_dtype == "float32") else 2
    shape = scan_shape_from_model(model, result.tokens, cell.batch, elem_bytes)
    if shape is None:
        return {}
    kernels = result.kernels
    scan_kernels = kernels[kernels["category"] == "scan"]
    scan_ms = float(scan_kernels["ms_per_iter"].sum())
    fused = bool(scan_kernels["kernel"].str.contains("bidir", case=False).any())
    if ceilings is None:
        import torch

        from .roofline import measure_ceilings

        ceilings = measure_ceilings(torch.device("cuda"))
    figures = scan_roofline(shape, scan_ms, fused, ceilings)
    if figures:
        figures["scan_elem_bytes"] = elem_bytes
    return figures


def timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())
