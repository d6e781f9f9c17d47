"""The kernel configurations the static check compiles for sm_90 (`python -m vimbench.staticcheck`).

Not hand-written: each benchmark case (vimbench/compare/scan_cases.py) is run through
the public functions on fake CUDA tensors with H100 device properties, and every launch
they would make - scheme, BLOCK_D, num_warps, T, strides as `plan_scan` picks them - is
recorded and compiled.  A change to the heuristics therefore shows up in the check.

`ELEMENTS_PER_ITERATION` says how many (b, d, t, n) elements one program handles per
iteration of each kernel's hot loop, which turns SASS counts into per-element counts.
"""

from __future__ import annotations


def _scan_tile(constexprs: dict) -> int:
    # one iteration of _scan_steps' group loop: T steps x BLOCK_D channels x N states
    return constexprs["T"] * constexprs["BLOCK_D"] * constexprs.get("N", constexprs.get("NP"))


ELEMENTS_PER_ITERATION = {
    "_selective_scan_kernel": _scan_tile,
    "_bidirectional_scan_kernel": _scan_tile,
    "_carry_kernel": lambda c: c["BLOCK_F"] * c["NSEG_P"],  # no loop: one program's (segment, column) tile
}


def static_configs():
    from vimbench.compare.scan_cases import SCAN_CASES, make_inputs, scan_function
    from vimbench.staticcheck.capture import capture, to_config

    configs = []
    for case in SCAN_CASES:
        fn = scan_function(case.direction)

        def call(case=case, fn=fn):
            args, kwargs = make_inputs(case, device="cuda")
            fn(*args, **kwargs)

        for index, launch in enumerate(capture(call)):
            name = launch.kernel.__name__
            configs.append(
                to_config(
                    launch,
                    f"{case.name}/{index}:{name}",
                    ELEMENTS_PER_ITERATION.get(name),
                    description=f"launch {index} of {case.direction} at batch {case.batch}, L {case.L}",
                )
            )
    return configs
