"""The card's two ceilings for the scan, measured in the process that uses them.

A kernel's GB/s or exponentials/s mean something only beside what the same card does in the
same run: a device-to-device copy (bytes read + written per second) and a kernel that does
nothing but exp2 (`exp2_probe.py`).  The kernel benchmark, the op benchmarks and a
harness's roofline all read them from here.
"""

from __future__ import annotations


def _median_event_seconds(fn, repeats: int) -> float:
    import torch

    fn()  # warm-up: allocation, module load, JIT
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    times.sort()
    return times[len(times) // 2]


def copy_bandwidth(device="cuda", nbytes: int = 1 << 30, repeats: int = 10) -> float:
    """Bytes read + written per second by a device-to-device copy of random data (median)."""
    import torch

    def timed_copy() -> float:
        src = torch.empty(nbytes // 4, dtype=torch.float32, device=device).uniform_()
        dst = torch.empty_like(src)
        return _median_event_seconds(lambda: dst.copy_(src), repeats)

    seconds = timed_copy()
    torch.cuda.empty_cache()  # the 2 GB of buffers are gone; give them back before the real work
    return 2 * nbytes / seconds


def exp2_rate(device="cuda", elements: int = 1 << 22, repeats: int = 5) -> float:
    """Exponentials per second of the exp2 probe kernel (median)."""
    import torch

    from .exp2_probe import ROUNDS, exp2_chain

    x = torch.rand(elements, device=device, dtype=torch.float32) * 0.5 + 0.25
    return 4 * ROUNDS * elements / _median_event_seconds(lambda: exp2_chain(x), repeats)
