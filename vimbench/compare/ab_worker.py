"""One side of an A/B session: a long-lived process that times benchmark cases on request.

Started by `ab.py` with the side's source tree (its kernels/ library first) on
PYTHONPATH, so the kernels it imports are that revision's.  It imports nothing from
vimbench or mamba_triton itself: the cases module (by default this checkout's
`mamba_triton/shapes.py`) is loaded from a file path and imports the kernels lazily.

Protocol: one JSON object per line.  Requests on stdin:
    {"op": "prepare", "case": NAME}            build inputs, JIT-compile, warm up
    {"op": "time", "case": NAME, "samples": K} K samples (ms per call)
    {"op": "quit"}
Replies on stdout: {"ok": true, ...} or {"ok": false, "error": "..."}.  A sample is the
time of `inner` back-to-back calls divided by `inner` (CUDA events on a GPU, perf_counter
after a synchronise elsewhere), `inner` chosen at prepare so a sample lasts >= 1 ms.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
import time
import traceback

TARGET_SAMPLE_S = 1e-3


def _load_cases(path: str):
    spec = importlib.util.spec_from_file_location("_ab_cases", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["_ab_cases"] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


class Timer:
    def __init__(self, device: str):
        self.cuda = device.startswith("cuda")
        if self.cuda:
            import torch

            self.torch = torch

    def sync(self):
        if self.cuda:
            self.torch.cuda.synchronize()

    def seconds_per_call(self, fn, inner: int) -> float:
        if self.cuda:
            start, end = self.torch.cuda.Event(enable_timing=True), self.torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(inner):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1e3 / inner
        self.sync()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        return (time.perf_counter() - t0) / inner


def _kernel_module_files() -> dict[str, str]:
    """Where the kernel packages this worker imported come from (the parent checks them)."""
    names = ("mamba_triton", "mamba_triton.selective_scan", "vimbench")
    return {n: sys.modules[n].__file__ for n in names if getattr(sys.modules.get(n), "__file__", None)}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", required=True, help="path of the cases module (mamba_triton/shapes.py)")
    parser.add_argument("--device", default="cuda")
    args = parser.parse_args()
    cases = _load_cases(args.cases)
    timer = Timer(args.device)
    prepared: dict[str, tuple] = {}

    def reply(**payload):
        sys.stdout.write(json.dumps(payload) + "\n")
        sys.stdout.flush()

    if timer.cuda:
        import torch

        card = torch.cuda.get_device_name(0)
        no_grad = torch.inference_mode
    else:  # CPU targets (tests, pure-Python cases) need no torch
        card = "cpu"
        no_grad = contextlib.nullcontext
    reply(ok=True, ready=True, card=card)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            if request["op"] == "quit":
                reply(ok=True)
                return 0
            name = request["case"]
            if request["op"] == "prepare":
                with no_grad():
                    fn = cases.ab_callable(name, args.device)
                    first = time.perf_counter()
                    fn()
                    timer.sync()
                    first_call_s = time.perf_counter() - first
                    start, calls = time.perf_counter(), 0
                    while calls < 5 or time.perf_counter() - start < 0.2:  # count AND time
                        fn()
                        calls += 1
                    timer.sync()
                    per_call = timer.seconds_per_call(fn, 5)
                inner = max(1, int(TARGET_SAMPLE_S / max(per_call, 1e-7)))
                prepared[name] = (fn, inner)
                reply(
                    ok=True,
                    case=name,
                    inner=inner,
                    first_call_s=first_call_s,
                    per_call_ms=per_call * 1e3,
                    module_files=_kernel_module_files(),
                )
            elif request["op"] == "time":
                fn, inner = prepared[name]
                with no_grad():
                    samples = [
                        timer.seconds_per_call(fn, inner) * 1e3 for _ in range(int(request["samples"]))
                    ]
                reply(ok=True, case=name, samples_ms=samples)
            else:
                reply(ok=False, error=f"unknown op {request['op']!r}")
        except Exception as exc:  # reported to the parent, which names the side and the case
            reply(ok=False, error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())
    return 0


if __name__ == "__main__":
    sys.exit(main())
