"""Device kernels and their launch context, read from the exported Chrome trace.

The trace is the profiler's stable output: every device kernel / memcpy / memset event
carries the `correlation` id of the runtime call (cudaLaunchKernel, cuLaunchKernelEx, ...)
that launched it, and that call sits, on its CPU thread, inside the operators and
`module:` / `vimbench:` ranges that were open at the time.  Time-containment on that
thread gives the context, innermost first.

Each kernel event is counted exactly once (the in-memory event lists of some PyTorch
versions attach one kernel to several operators, which overcounts: see the H100 profile
README).
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from pathlib import Path

from .breakdown import KernelRecord

DEVICE_CATEGORIES = ("kernel", "gpu_memcpy", "gpu_memset")
LAUNCH_CATEGORIES = ("cuda_runtime", "cuda_driver")
CONTEXT_CATEGORIES = ("cpu_op", "user_annotation", "python_function")


def load_trace(path: str | Path) -> list[dict]:
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as fh:
        data = json.load(fh)
    return data["traceEvents"] if isinstance(data, dict) else data


def trace_kernel_records(events: list[dict]) -> list[KernelRecord]:
    """One record per (kernel name, context) with total device microseconds and calls."""
    launches = {}
    for e in events:
        if e.get("cat") in LAUNCH_CATEGORIES and "correlation" in e.get("args", {}):
            launches[e["args"]["correlation"]] = (e["pid"], e["tid"], float(e["ts"]))

    spans_by_thread: dict[tuple, list[tuple[float, float, str]]] = defaultdict(list)
    for e in events:
        if e.get("cat") in CONTEXT_CATEGORIES and e.get("ph") == "X":
            start = float(e["ts"])
            spans_by_thread[(e["pid"], e["tid"])].append((start, start + float(e.get("dur", 0.0)), e["name"]))

    kernels = [e for e in events if e.get("cat") in DEVICE_CATEGORIES and e.get("ph") == "X"]
    points_by_thread: dict[tuple, list[tuple[float, int]]] = defaultdict(list)
    for i, e in enumerate(kernels):
        launch = launches.get(e.get("args", {}).get("correlation"))
        if launch is not None:
            points_by_thread[(launch[0], launch[1])].append((launch[2], i))

    contexts: dict[int, tuple[str, ...]] = {}
    for thread, points in points_by_thread.items():
        spans = sorted(spans_by_thread.get(thread, []), key=lambda s: (s[0], -s[1]))
        points.sort()
        stack: list[tuple[float, float, str]] = []
        j = 0
        for ts, i in points:
            while j < len(spans) and spans[j][0] <= ts:
                while stack and stack[-1][1] < spans[j][0]:
                    stack.pop()
                stack.append(spans[j])
                j += 1
            while stack and stack[-1][1] < ts:
                stack.pop()
            contexts[i] = tuple(name for _, end, name in reversed(stack) if end >= ts)

    totals: dict[tuple[str, tuple[str, ...]], list] = {}
    for i, e in enumerate(kernels):
        key = (e["name"], contexts.get(i, ()))
        entry = totals.setdefault(key, [0.0, 0])
        entry[0] += float(e.get("dur", 0.0))
        entry[1] += 1
    return [KernelRecord(name, context, us, calls) for (name, context), (us, calls) in totals.items()]
