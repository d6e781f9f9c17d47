"""What holds the peak GPU memory of one forward pass, and how allocation evolves during it.

The peak of `torch.cuda.max_memory_allocated` is split into parts that add up to it:

    weights      parameters and buffers on the device
    input        the image batch
    resident     everything else allocated before the forward (cuBLAS/cuDNN workspaces,
                 leftovers)
    activations  what the forward itself allocated at its peak (activations, temporaries,
                 autocast weight copies, kernel workspaces)

plus `allocator slack` (max reserved - max allocated: cached but unused blocks) and, when
NVML can see the process, `CUDA context and other` (process memory - max reserved).

The allocation history (`torch.cuda.memory._record_memory_history`, where this PyTorch has
it) gives the allocated-bytes curve over the forward and the source lines that hold the
most memory at the peak.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

NOT_ON_CPU = "CUDA memory: not available on CPU"


@dataclass
class MemoryBreakdown:
    peak_allocated_bytes: int
    peak_reserved_bytes: int
    weights_bytes: int
    input_bytes: int
    resident_bytes: int
    activations_bytes: int
    allocator_slack_bytes: int
    nvml_process_bytes: int | None = None
    # allocated bytes after each allocator event of the forward (event index, bytes)
    timeline: list[tuple[int, int]] = field(default_factory=list)
    # (source location, bytes) of the allocations live at the peak, largest first
    peak_holders: list[tuple[str, int]] = field(default_factory=list)
    note: str = ""

    def parts(self) -> dict[str, int]:
        parts = {
            "weights": self.weights_bytes,
            "input": self.input_bytes,
            "resident (workspaces, other)": self.resident_bytes,
            "activations and temporaries": self.activations_bytes,
            "allocator slack (reserved - allocated)": self.allocator_slack_bytes,
        }
        if self.nvml_process_bytes is not None:
            parts["CUDA context and other (NVML - reserved)"] = max(
                self.nvml_process_bytes - self.peak_reserved_bytes, 0)
        return parts


def tensor_bytes(tensors) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)


def measure_forward_memory(model, images, forward: Callable[[], object],
                           nvml_process_bytes: Callable[[], int | None] | None = None,
                           record_history: bool = True) -> MemoryBreakdown:
    """Run `forward()` once on the GPU and split its peak memory (see module docstring)."""
    import torch

    device = images.device
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    weights = tensor_bytes(t for t in list(model.parameters()) + list(model.buffers()) if t.device == device)
    input_bytes = tensor_bytes([images])

    recording, note = False, ""
    if record_history:
        recording, note = _start_history()
    try:
        out = forward()
        torch.cuda.synchronize(device)
        snapshot = torch.cuda.memory._snapshot() if recording else None
    finally:
        if recording:
            torch.cuda.memory._record_memory_history(enabled=None)
    del out

    peak_alloc = torch.cuda.max_memory_allocated(device)
    peak_reserved = torch.cuda.max_memory_reserved(device)
    timeline, holders = ([], [])
    if snapshot is not None:
        timeline, holders = _history(snapshot, device.index or 0, base)
    return MemoryBreakdown(
        peak_allocated_bytes=peak_alloc,
        peak_reserved_bytes=peak_reserved,
        weights_bytes=weights,
        input_bytes=input_bytes,
        resident_bytes=max(base - weights - input_bytes, 0),
        activations_bytes=max(peak_alloc - base, 0),
        allocator_slack_bytes=max(peak_reserved - peak_alloc, 0),
        nvml_process_bytes=nvml_process_bytes() if nvml_process_bytes else None,
        timeline=timeline,
        peak_holders=holders,
        note=note,
    )


def _start_history() -> tuple[bool, str]:
    import torch

    record = getattr(torch.cuda.memory, "_record_memory_history", None)
    if record is None:
        return False, "this PyTorch has no torch.cuda.memory._record_memory_history: no timeline"
    try:
        # Python stacks of each allocation: one forward, a few thousand events.
        record(enabled="all", context="alloc", stacks="python", max_entries=1_000_000)
    except TypeError:
        try:
            record(enabled="all")
        except Exception as exc:  # noqa: BLE001 - depends on the PyTorch build; reported in the notes
            return False, f"memory history unavailable: {exc}"
    except Exception as exc:  # noqa: BLE001 - as above
        return False, f"memory history unavailable: {exc}"
    return True, ""


def _history(snapshot: dict, device_index: int, base: int):
    """Allocated bytes after each event, and the source lines live at the peak."""
    traces = snapshot.get("device_traces", [])
    events = traces[device_index] if device_index < len(traces) else []
    live: dict[int, tuple[int, str]] = {}
    current, peak, peak_live = base, base, {}
    timeline = [(0, base)]
    frees_completed = any(e.get("action") == "free_completed" for e in events)
    free_action = "free_completed" if frees_completed else "free_requested"
    for i, event in enumerate(events, start=1):
        action = event.get("action")
        if action == "alloc":
            current += event["size"]
            live[event["addr"]] = (event["size"], _where(event.get("frames", [])))
        elif action == free_action and event["addr"] in live:
            current -= live.pop(event["addr"])[0]
        else:
            continue
        timeline.append((i, current))
        if current > peak:
            peak, peak_live = current, dict(live)
    by_place: dict[str, int] = {}
    for size, place in peak_live.values():
        by_place[place] = by_place.get(place, 0) + size
    holders = sorted(by_place.items(), key=lambda kv: -kv[1])[:8]
    return timeline, holders


def _where(frames: list[dict]) -> str:
    """The innermost frame outside PyTorch itself: the model line that allocated."""
    sep = os.sep
    for frame in frames:
        filename = frame.get("filename", "")
        # PyTorch's own files: the part after site-packages starts with torch/ (a venv may
        # itself live under a folder named torch, e.g. /opt/torch/.venv, so match after it)
        package_path = filename.rsplit(f"site-packages{sep}", 1)[-1]
        if package_path.startswith(f"torch{sep}") or f"{sep}torch{sep}nn{sep}" in package_path \
                or filename.startswith("<") or f"vimbench{sep}profile" in filename:
            continue
        parts = filename.split(sep)
        short = sep.join(parts[-2:]) if len(parts) > 1 else filename
        return f"{short}:{frame.get('line')} {frame.get('name')}"
    return "(no Python frame: allocator/C++)"
