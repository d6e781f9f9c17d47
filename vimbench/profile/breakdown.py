"""From torch.profiler events to time per kernel and per category.

On a GPU the unit is a device kernel (or memcpy/memset) and its time is device time; each
kernel carries the chain of operators and module ranges that launched it, which the
categoriser uses (read from the exported trace: trace.py).  On a CPU the unit is an operator and its time is *self* CPU time (its
children excluded), so nothing is counted twice.

`annotate_modules` wraps every module's forward in a `module:<ClassName>` range: they show
up in the Chrome trace and give the categoriser the model's own structure.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .categories import CATEGORIES, categorize

MODULE_RANGE_PREFIX = "module:"
# Ranges that are annotations, not work (their device-side copies would double-count time).
_ANNOTATION_PREFIXES = (MODULE_RANGE_PREFIX, "ProfilerStep", "vimbench:")


@dataclass(frozen=True)
class KernelRecord:
    name: str
    context: tuple[str, ...]   # launching operator/range names, innermost first
    total_us: float            # summed over every profiled iteration
    calls: int


@contextlib.contextmanager
def annotate_modules(model):
    """Give every submodule's forward a `module:<ClassName>` profiler range."""
    import torch

    handles = []
    open_ranges: dict[int, list] = defaultdict(list)

    def enter(module, _inputs):
        ctx = torch.profiler.record_function(MODULE_RANGE_PREFIX + type(module).__name__)
        ctx.__enter__()
        open_ranges[id(module)].append(ctx)

    def leave(module, _inputs, _output):
        stack = open_ranges.get(id(module))
        if stack:
            stack.pop().__exit__(None, None, None)

    for module in model.modules():
        handles.append(module.register_forward_pre_hook(enter))
        handles.append(module.register_forward_hook(leave))
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def _is_annotation(event) -> bool:
    return bool(getattr(event, "is_user_annotation", False)) or event.name.startswith(_ANNOTATION_PREFIXES)


def _context(event) -> tuple[str, ...]:
    names = []
    node = event
    while node is not None:
        names.append(node.name)
        node = node.cpu_parent
    return tuple(names)


def _is_device(event) -> bool:
    from torch.autograd import DeviceType

    return event.device_type != DeviceType.CPU


def cpu_op_records(events: Iterable) -> list[KernelRecord]:
    """Every CPU operator with its self time (children excluded) and its context."""
    totals: dict[tuple[str, tuple[str, ...]], list] = {}
    for event in events:
        if _is_device(event) or _is_annotation(event) or getattr(event, "is_async", False):
            continue
        self_us = event.self_cpu_time_total
        if self_us <= 0:
            continue
        key = (event.name, _context(event))
        entry = totals.setdefault(key, [0.0, 0])
        entry[0] += self_us
        entry[1] += 1
    return [KernelRecord(name, context, us, calls) for (name, context), (us, calls) in totals.items()]


def kernel_table(records: Sequence[KernelRecord], iterations: int):
    """One row per kernel name: category, calls and milliseconds per iteration, share.

    A kernel name launched from several contexts is categorised per context and reported
    under the category holding most of its time.
    """
    import pandas as pd

    per_name: dict[str, dict] = {}
    for record in records:
        category = categorize(record.name, record.context)
        entry = per_name.setdefault(record.name, {"us": 0.0, "calls": 0, "by_category": defaultdict(float)})
        entry["us"] += record.total_us
        entry["calls"] += record.calls
        entry["by_category"][category] += record.total_us
    rows = []
    total_us = sum(e["us"] for e in per_name.values()) or 1.0
    for name, entry in per_name.items():
        category = max(entry["by_category"].items(), key=lambda kv: kv[1])[0]
        rows.append({
            "kernel": name,
            "category": category,
            "calls_per_iter": entry["calls"] / iterations,
            "ms_per_iter": entry["us"] / 1e3 / iterations,
            "share": entry["us"] / total_us,
        })
    frame = pd.DataFrame(rows, columns=["kernel", "category", "calls_per_iter", "ms_per_iter", "share"])
    return frame.sort_values("ms_per_iter", ascending=False, ignore_index=True)


def category_table(records: Sequence[KernelRecord], iterations: int):
    """Milliseconds per iteration and share for every category (all categories listed)."""
    import pandas as pd

    us = dict.fromkeys(CATEGORIES, 0.0)
    calls = dict.fromkeys(CATEGORIES, 0)
    for record in records:
        category = categorize(record.name, record.context)
        us[category] += record.total_us
        calls[category] += record.calls
    total = sum(us.values()) or 1.0
    return pd.DataFrame([
        {"category": c, "label": label, "ms_per_iter": us[c] / 1e3 / iterations,
         "calls_per_iter": calls[c] / iterations, "share": us[c] / total}
        for c, label in CATEGORIES.items()
    ])
