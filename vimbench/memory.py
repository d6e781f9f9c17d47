"""Peak memory of one forward, measured in its own pass (after timing, never during it).

Three numbers, because "memory" claims differ in what they count:
- `max_allocated`: bytes of live tensors at the peak (torch; weights + input + activations);
- `max_reserved`: bytes the caching allocator held at the peak (what can actually OOM);
- `nvml_process`: the process's device memory as NVML reports it (nvidia-smi's number,
  CUDA context and library workspaces included), with `nvml_source` saying whether it is
  the per-process figure or, where that is not visible, the whole device's used memory.
On the CPU none of these exist and the pass records nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from . import telemetry


@dataclass
class MemoryPeak:
    max_allocated_bytes: int | None = None
    max_reserved_bytes: int | None = None
    nvml_process_bytes: int | None = None
    nvml_source: str | None = None


def weights_bytes(model) -> int:
    """Bytes held by parameters and buffers."""
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def measure_peak(fn: Callable[[], object], device: str) -> MemoryPeak:
    """Run `fn` once from a clean allocator peak and read the three peaks."""
    if device != "cuda":
        return MemoryPeak()
    import torch

    torch.cuda.synchronize()
    torch.cuda.empty_cache()          # drop the timing pass's cache so reserved is this pass's own
    torch.cuda.reset_peak_memory_stats()
    out = fn()
    torch.cuda.synchronize()
    peak = MemoryPeak(
        max_allocated_bytes=int(torch.cuda.max_memory_allocated()),
        max_reserved_bytes=int(torch.cuda.max_memory_reserved()),
    )
    # Read NVML while the allocator still holds the pass's memory.
    peak.nvml_process_bytes, peak.nvml_source = telemetry.process_memory()
    del out
    return peak
