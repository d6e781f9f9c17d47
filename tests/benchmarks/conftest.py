"""GPU benchmarks (pytest-benchmark).  Skipped, with the reason, where no CUDA device is.

    pytest tests/benchmarks tests/kernels/test_bench_scan.py --benchmark-only --benchmark-json=bench.json
    vimbench compare reports/baselines/<card>/bench.json bench.json

Timing: every round launches the op `iterations` times between two reads of a timer that
synchronises the device first, so a sample is GPU time per call (plus launch overhead
when the op is shorter than a launch), never the time to enqueue it.
"""

import time

import pytest
import torch


def cuda_synchronized_timer() -> float:
    """perf_counter after the GPU has finished everything queued: the benchmark clock."""
    torch.cuda.synchronize()
    return time.perf_counter()


def pytest_collection_modifyitems(config, items):
    """Every benchmark here runs on the synchronising clock and needs CUDA (the root
    conftest skips `gpu` items, with the reason, where there is none)."""
    for item in items:
        if "benchmarks" in item.path.parts and item.path.parent.name == "benchmarks":
            item.add_marker(pytest.mark.gpu)
            if item.get_closest_marker("benchmark") is None:
                item.add_marker(pytest.mark.benchmark(timer=cuda_synchronized_timer))


def pytest_benchmark_update_machine_info(config, machine_info):
    """Record the card (the compare gate refuses to mix cards) and the GPU software."""
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        machine_info["gpu_name"] = props.name
        machine_info["gpu_sm_count"] = props.multi_processor_count
    machine_info["torch_version"] = torch.__version__
    try:
        import triton

        machine_info["triton_version"] = triton.__version__
    except ImportError:
        pass


def warm_up(fn, min_calls: int = 5, min_seconds: float = 0.2) -> float:
    """Call fn until both a count and a time are met (JIT, autotune, allocator growth);
    returns the mean seconds per call of the last calls, synchronised."""
    start = cuda_synchronized_timer()
    calls = 0
    while calls < min_calls or cuda_synchronized_timer() - start < min_seconds:
        fn()
        calls += 1
    t0 = cuda_synchronized_timer()
    for _ in range(min_calls):
        fn()
    return (cuda_synchronized_timer() - t0) / min_calls


@pytest.fixture
def gpu_benchmark(benchmark):
    """`run(fn, min_bytes=None, items=None, rounds=30, **extra)`: warm up, choose iterations
    so a round lasts >= 2 ms, time with the synchronising clock, and put the card, the
    median ms, GB/s (of `min_bytes`) and items/s (e.g. tokens) in extra_info."""

    def run(fn, min_bytes=None, items=None, rounds=30, **extra):
        per_call = warm_up(fn)
        iterations = max(1, int(2e-3 / max(per_call, 1e-7)))
        benchmark.pedantic(fn, rounds=rounds, iterations=iterations, warmup_rounds=1)
        if benchmark.disabled:  # --benchmark-disable: ran once as a plain test
            return
        median_s = benchmark.stats.stats.median
        benchmark.extra_info.update(
            gpu_name=torch.cuda.get_device_name(0), iterations=iterations, median_ms=median_s * 1e3, **extra
        )
        if min_bytes:
            benchmark.extra_info.update(min_bytes=min_bytes, GBps=min_bytes / median_s / 1e9)
        if items:
            benchmark.extra_info.update(items_per_s=items / median_s)

    return run
