"""One cell, start to finish: build, check, warm up, time, measure memory -> one Row.

    run_cell(job)            in this process
    run_cell_isolated(job)   in a fresh spawned process (the default for sweeps): an OOM, a
                             crash or a hang costs one row, and allocator state never leaks
                             from one cell into the next

The lifecycle, all under torch.inference_mode() (mode "infer") or with autograd on ("train"):
  1. telemetry snapshot; TF32 set explicitly from the precision policy; in mode train, a
     variant without a backward pass stops here with an error row saying what is missing
  2. build the model at the cell's resolution, cast to the policy's dtype, move to the device
  3. prepare the execution mode (eager | cuda_graph | compile; setup time kept apart), or in
     mode train the training step (train_step.py: forward, loss, backward, AdamW step), which
     is then the timed call everywhere below
  4. first call, timed separately; its output (train: the loss) must be finite (NaN/Inf ->
     error row)
  5. warm-up until a count and a time are both met, then the timed loop (CUDA events),
     sampled by the telemetry thread for power, clocks, throttling and energy
  6. a separate memory pass: peaks from a clean allocator, plus NVML's process memory
  7. for a model with attention, which attention backend the timed call runs (one profiled
     call for DeiT `sdpa`, after the timing and memory passes so the profiler touches
     neither)
  8. telemetry snapshot

An out-of-memory anywhere gives status "oom" (the phase is in `error`); any other
exception gives status "error" with its message.  The batch is never lowered here.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .modes import TRAIN
from .results import STATUS_ERROR, STATUS_OK, STATUS_OOM, Row
from .suite import Cell
from .timing import TimingSettings


@dataclass
class CellJob:
    """Everything a worker process needs; plain data so it crosses a spawn boundary."""
    cell: Cell
    suite: str
    device: str                               # "cuda" | "cpu" (already resolved from "auto")
    timing: TimingSettings = field(default_factory=TimingSettings)
    plugins: tuple[str, ...] = ()
    conditions: dict[str, Any] = field(default_factory=dict)  # git_commit, hostname, versions
    seed: int = 0


class NonFiniteOutput(RuntimeError):
    pass


class TrainUnsupported(RuntimeError):
    """A train cell of a variant without a backward pass (ModelSpec.train_unsupported)."""


def _is_oom(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    # Some libraries report an allocation failure as a plain RuntimeError.
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


def new_row(job: CellJob) -> Row:
    cell = job.cell
    cond = job.conditions
    return Row(
        cell_id=cell.cell_id, suite=job.suite, model=cell.model, variant=cell.variant,
        resolution=cell.resolution, batch=cell.batch, precision=cell.precision, exec_mode=cell.exec_mode,
        mode=cell.mode, purpose=cell.purpose, repeat=cell.repeat, device=job.device,
        gpu_name=cond.get("gpu_name"), gpu_index=cond.get("gpu_index"), torch_version=cond.get("torch_version"),
        triton_version=cond.get("triton_version"), timm_version=cond.get("timm_version"),
        git_commit=cond.get("git_commit"), hostname=cond.get("hostname"),
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def run_cell(job: CellJob) -> Row:
    """Run one cell in this process and return its row (never raises for a failed cell)."""
    import torch

    from . import telemetry
    from .suite import import_plugins

    started = time.perf_counter()
    row = new_row(job)
    where = {"phase": "setup"}  # the lifecycle step in progress, named in a failure's message

    def phase(name: str) -> None:
        where["phase"] = name

    try:
        import_plugins(job.plugins)
        if job.device == "cuda":
            row.telemetry_before = telemetry.snapshot()
            row.gpu_name = row.gpu_name or torch.cuda.get_device_name()
        # Training needs autograd; inference runs without it (no graph kept, inference tensors).
        with torch.enable_grad() if job.cell.mode == TRAIN else torch.inference_mode():
            _measure_into(row, job, phase)
    except Exception as exc:  # noqa: BLE001 - any failure of the cell becomes its row
        if _is_oom(exc):
            row.status, row.error = STATUS_OOM, f"out of memory during {where['phase']}: {_first_line(exc)}"
        else:
            row.status = STATUS_ERROR
            row.error = f"{where['phase']}: {_first_line(exc)}"
            if not isinstance(exc, (NonFiniteOutput, TrainUnsupported)):
                row.error += "\n" + "".join(traceback.format_exception(exc)[-3:])[-2000:]
    if job.device == "cuda":
        # Outside the except block: the traceback (and the tensors its frames hold) is gone,
        # so an inline sweep hands the memory of a failed cell back before the next one.
        gc.collect()
        torch.cuda.empty_cache()
        row.telemetry_after = telemetry.snapshot()
        row.throttled = telemetry.throttled(row.telemetry_before, row.telemetry_after, row.telemetry_during)
    row.duration_s = time.perf_counter() - started
    return row


def _measure_into(row: Row, job: CellJob, phase) -> None:
    import torch

    from . import exec_modes, memory, telemetry, timing
    from .models import create_model, get_model_spec
    from .precision import get_policy
    from .train_step import OPTIMIZER, TrainStep

    cell, device = job.cell, job.device
    policy = get_policy(cell.precision)
    policy.set_tf32()
    row.tf32, row.param_dtype, row.autocast_dtype = policy.tf32, policy.param_dtype, policy.autocast_dtype
    spec = get_model_spec(cell.model)
    row.tokens = spec.tokens(cell.resolution)
    if spec.variant_kind == "attention":
        row.attention = cell.variant
    elif spec.variant_kind == "scan_backend":
        row.scan_backend = cell.variant
    if cell.mode == TRAIN:
        phase("train support")
        blocker = spec.train_blocker(cell.variant)
        if blocker is not None:
            raise TrainUnsupported(f"mode train: {cell.model} {spec.variant_kind} {cell.variant!r} cannot train, "
                                   f"{blocker}")
    torch.manual_seed(job.seed)

    phase("build")
    model = create_model(cell.model, cell.variant, cell.resolution)
    model = model.to(device=device, dtype=policy.torch_param_dtype()).eval()
    row.params = sum(p.numel() for p in model.parameters())
    row.mem_weights_bytes = memory.weights_bytes(model)
    images = torch.randn(cell.batch, 3, cell.resolution, cell.resolution, device=device,
                         dtype=policy.torch_param_dtype())
    autocast_dtype = getattr(torch, policy.autocast_dtype) if policy.autocast_dtype else None

    def check_finite(out):
        tensor = out[0] if isinstance(out, (tuple, list)) else out
        finite = torch.isfinite(tensor)
        if not bool(finite.all()):
            n_nan = int(torch.isnan(tensor).sum())
            n_inf = int(torch.isinf(tensor).sum())
            what = "training loss" if cell.mode == TRAIN else "model output"
            raise NonFiniteOutput(f"{what} is not finite: {n_nan} NaN and {n_inf} Inf "
                                  f"of {tensor.numel()} values ({cell.precision}); no timing taken")

    run = None
    if cell.mode == TRAIN:
        phase("train setup")
        step = TrainStep(model, images, autocast_dtype)
        row.train_optimizer = OPTIMIZER
        forward = step

        def check_output(loss):
            check_finite(loss)
            row.train_loss = float(loss)
            row.train_params_with_grad = step.params_with_grad()
            if not row.train_params_with_grad:
                raise TrainUnsupported("mode train: the training step reached no parameter (the loss has no "
                                       "gradient path through forward_features)")
    else:
        phase("exec_mode setup")
        run, setup_s = exec_modes.prepare(model.forward_features, images, cell.exec_mode,
                                          autocast_dtype=autocast_dtype)
        row.compile_s = setup_s if cell.exec_mode != "eager" else None
        x = getattr(run, "static_input", images)  # a CUDA graph replays on its own input buffer

        def forward():
            return run(x)
        check_output = check_finite

    phase("first call")
    sampler = telemetry.TelemetrySampler() if device == "cuda" else None
    with contextlib.ExitStack() as during_timing:
        def start_timed_loop():
            phase("timing")
            if sampler is not None:
                during_timing.enter_context(sampler)  # leaves when the timed loop has synchronised

        result = timing.measure(forward, device, job.timing, check_first_output=check_output,
                                on_timed_start=start_timed_loop)
    stats = timing.summarize(result.samples_ms, cell.batch)
    row.timer, row.n_samples, row.samples_ms = result.timer, stats.n, result.samples_ms
    row.latency_ms_median, row.latency_ms_p10, row.latency_ms_p90 = stats.median_ms, stats.p10_ms, stats.p90_ms
    row.latency_cv, row.high_cv, row.images_per_s = stats.cv, stats.high_cv, stats.images_per_s
    row.first_call_ms, row.warmup_iters, row.warmup_s = result.first_call_ms, result.warmup_iters, result.warmup_s
    if sampler is not None:
        row.telemetry_during = sampler.summary
        energy = sampler.summary.get("energy_j")
        images_timed = cell.batch * len(result.samples_ms)
        if energy:
            row.energy_j_per_image = energy / images_timed
            row.images_per_joule = images_timed / energy
            row.energy_source = sampler.summary.get("energy_source")

    if cell.mode == TRAIN:
        row.train_optimizer_state_bytes, row.train_loss_scale = step.optimizer_state_bytes(), step.loss_scale()

    phase("memory pass")
    peak = memory.measure_peak(forward, device)  # train: one whole step, optimizer state included
    row.mem_graph_capture_peak_bytes = getattr(run, "capture_peak_allocated_bytes", None)
    if row.mem_graph_capture_peak_bytes is not None and peak.max_allocated_bytes is not None:
        peak.max_allocated_bytes = max(peak.max_allocated_bytes, row.mem_graph_capture_peak_bytes)
    row.mem_max_allocated_bytes, row.mem_max_reserved_bytes = peak.max_allocated_bytes, peak.max_reserved_bytes
    row.mem_nvml_process_bytes, row.mem_nvml_source = peak.nvml_process_bytes, peak.nvml_source

    if spec.attention_backend is not None:
        phase("attention backend")
        row.attention_backend = spec.attention_backend(cell.variant, forward)
    row.status = STATUS_OK


# --- isolation ---------------------------------------------------------------------------

def _worker_main(conn, job: CellJob, env: dict[str, str] | None = None) -> None:
    # Before anything initialises CUDA: CUDA_VISIBLE_DEVICES is read once, at CUDA init.
    os.environ.update(env or {})
    try:
        row = run_cell(job)
        conn.send(row.to_dict())
    finally:
        conn.close()


class WorkerKilled(RuntimeError):
    """The cell's worker was SIGKILLed from outside (OOM killer, an operator): the cell is not at fault."""


def run_cell_isolated(job: CellJob, timeout_s: float = 900.0, env: dict[str, str] | None = None,
                      raise_if_killed: bool = False) -> Row:
    """Run one cell in a fresh spawned process; a crash or timeout becomes an error row.

    `env` is set in the worker before the cell (e.g. CUDA_VISIBLE_DEVICES to pin it to one GPU).
    With `raise_if_killed`, a worker SIGKILLed by someone else raises WorkerKilled instead, so a
    launcher can run the cell again rather than record an error.
    """
    started = time.perf_counter()
    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    process = ctx.Process(target=_worker_main, args=(child_conn, job, env), name="vimbench-cell",
                          daemon=True)
    process.start()
    child_conn.close()
    data = None
    reason = None
    try:
        if parent_conn.poll(timeout_s):
            try:
                data = parent_conn.recv()
            except EOFError:
                pass
        else:
            reason = f"timed out after {timeout_s:.0f} s (cell_timeout_s); worker killed"
    finally:
        if process.is_alive():
            # A worker that closed its pipe is exiting (a dead one may not be reaped yet): wait for
            # it, to learn how it ended.  A timed-out one is killed at once.
            process.join(timeout=0 if reason else 10)
        killed_by_us = process.is_alive()
        if killed_by_us:
            process.kill()
        process.join()
        parent_conn.close()
    if data is not None:
        return Row.from_dict(data)
    if raise_if_killed and not killed_by_us and process.exitcode == -signal.SIGKILL:
        raise WorkerKilled(f"worker {process.pid} of {job.cell.cell_id} was killed (SIGKILL)")
    row = new_row(job)
    row.status = STATUS_ERROR
    if reason is None:
        code = process.exitcode
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        reason = f"worker process died ({how}) before reporting a result"
    row.error = reason
    row.duration_s = time.perf_counter() - started
    return row
