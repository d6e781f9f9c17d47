"""What a static check (compiling for sm_90 without a GPU) should compile of the scan.

Not hand-written: `static_calls()` gives, for each benchmark case (`mamba_triton/shapes.py`),
a call of the public function on fresh inputs.  A checker runs each call on fake CUDA
tensors with H100 device properties and records every launch it would make - scheme,
BLOCK_D, num_warps, T, strides as `plan_scan` picks them - so a change to the heuristics
shows up in the check (the harness of this repository does this in its staticcheck).

`ELEMENTS_PER_ITERATION` says how many (b, d, t, n) elements one program handles per
iteration of each kernel's hot loop, which turns SASS counts into per-element counts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator


def _scan_tile(constexprs: dict) -> int:
    # one iteration of _scan_steps' group loop: T steps x BLOCK_D channels x N states
    return constexprs["T"] * constexprs["BLOCK_D"] * constexprs.get("N", constexprs.get("NP"))


ELEMENTS_PER_ITERATION = {
    "_selective_scan_kernel": _scan_tile,
    "_bidirectional_scan_kernel": _scan_tile,
    "_carry_kernel": lambda c: c["BLOCK_F"] * c["NSEG_P"],  # no loop: one program's (segment, column) tile
}


def static_calls() -> Iterator[tuple[str, str, Callable[[], None]]]:
    """(case name, description, call) for every scan benchmark case; `call()` runs the
    case's public function on fresh "cuda" inputs (under a checker's fake device)."""
    from mamba_triton.shapes import SCAN_CASES, make_inputs, scan_function

    for case in SCAN_CASES:
        fn = scan_function(case.direction)

        def call(case=case, fn=fn):
            args, kwargs = make_inputs(case, device="cuda")
            fn(*args, **kwargs)

        yield case.name, f"{case.direction} at batch {case.batch}, L {case.L}", call
