"""Latency of one callable: warm-up until a count AND a time are met, then per-iteration timing.

On CUDA every timed iteration is bracketed by CUDA events on the current stream and the
host synchronises once, after the loop (a host clock read without a sync measures the
launch, not the work).  On the CPU the work is synchronous and `perf_counter` is exact.
Every sample is kept; `summarize` turns them into the statistics a row carries.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

HIGH_CV = 0.05  # above this the samples are too noisy to trust a single median; the run warns


@dataclass(frozen=True)
class TimingSettings:
    warmup_min_iters: int = 5
    warmup_min_s: float = 1.0
    iters: int = 30            # timed iterations, at least
    min_time_s: float = 0.0    # and keep timing until this much time has passed


@dataclass
class Timing:
    timer: str                     # "cuda_event" | "perf_counter"
    first_call_ms: float           # the very first call: JIT, autotune, allocator growth
    warmup_iters: int
    warmup_s: float
    samples_ms: list[float] = field(default_factory=list)
    window_s: float = 0.0          # wall time of the timed loop, for energy per image


@dataclass(frozen=True)
class Stats:
    n: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    mean_ms: float
    cv: float                      # sample standard deviation / mean
    images_per_s: float            # batch / median latency

    @property
    def high_cv(self) -> bool:
        return self.cv > HIGH_CV


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default method) of already sorted values."""
    if not sorted_values:
        raise ValueError("percentile of no samples")
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(samples_ms: list[float], batch: int) -> Stats:
    values = sorted(samples_ms)
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else 0.0
    median = percentile(values, 50)
    return Stats(
        n=n,
        median_ms=median,
        p10_ms=percentile(values, 10),
        p90_ms=percentile(values, 90),
        mean_ms=mean,
        cv=math.sqrt(var) / mean if mean > 0 else 0.0,
        images_per_s=batch / (median / 1000.0) if median > 0 else float("inf"),
    )


def _sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def measure(fn: Callable[[], object], device: str, settings: TimingSettings,
            check_first_output: Callable[[object], None] | None = None,
            on_timed_start: Callable[[], None] | None = None) -> Timing:
    """Time `fn` (one forward).

    `check_first_output` sees the first call's output (e.g. a finite check) and may raise
    to stop before any timing; `on_timed_start` runs just before the timed loop (telemetry).
    """
    t0 = time.perf_counter()
    out = fn()
    _sync(device)
    first_call_ms = (time.perf_counter() - t0) * 1000.0
    if check_first_output is not None:
        check_first_output(out)
    del out

    # Warm-up, synchronised each iteration so its clock is honest; the first call counts.
    iters, start = 1, t0
    while iters < settings.warmup_min_iters or time.perf_counter() - start < settings.warmup_min_s:
        fn()
        _sync(device)
        iters += 1
    warmup_s = time.perf_counter() - start

    if on_timed_start is not None:
        on_timed_start()
    if device == "cuda":
        samples, window_s = _timed_loop_cuda(fn, settings)
        timer = "cuda_event"
    else:
        samples, window_s = _timed_loop_cpu(fn, settings)
        timer = "perf_counter"
    return Timing(timer, first_call_ms, iters, warmup_s, samples, window_s)


def _timed_loop_cuda(fn, settings: TimingSettings) -> tuple[list[float], float]:
    import torch

    pairs = []
    start = time.perf_counter()
    # The host loop may run ahead of the device; the stop test on the host clock only decides
    # how many iterations to queue, the samples themselves come from the events.
    while len(pairs) < settings.iters or time.perf_counter() - start < settings.min_time_s:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        fn()
        end.record()
        pairs.append((begin, end))
    torch.cuda.synchronize()
    window_s = time.perf_counter() - start
    return [b.elapsed_time(e) for b, e in pairs], window_s


def _timed_loop_cpu(fn, settings: TimingSettings) -> tuple[list[float], float]:
    samples = []
    start = time.perf_counter()
    while len(samples) < settings.iters or time.perf_counter() - start < settings.min_time_s:
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000.0)
    return samples, time.perf_counter() - start
