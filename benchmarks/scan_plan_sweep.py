"""Time candidate ScanPlans (scheme, channel block, warps, steps per group, segment length)
on a few Vim shapes, to set the heuristics of `fused.plan_scan` from measurements.

    PYTHONPATH=. python benchmarks/scan_plan_sweep.py [--quick]

Every candidate is checked against the float64 reference before it is timed.
"""

from __future__ import annotations

import argparse
import json

import torch

from vimbench.kernels.bench import machine_header, parse_shape, time_shape
from vimbench.kernels.selective_scan.fused import ScanPlan, plan_scan

L_1248 = 6085


def candidates(shape):
    out = []
    if shape.batch >= 64:
        for bd, nw, T in [(32, 1, 4), (32, 1, 8), (32, 1, 2), (64, 2, 4), (128, 4, 4), (64, 1, 4)]:
            out.append(ScanPlan("direct", bd, nw, T, shape.L))
    else:
        out.append(ScanPlan("direct", 32, 1, 8, shape.L))
        for seg in (32, 64, 128, 256, 512):
            if seg < shape.L and shape.L / seg <= 128:
                out.append(ScanPlan("chunked", 32, 1, 8, seg))
                if seg == 64:
                    out.append(ScanPlan("chunked", 32, 1, 4, seg))
                    out.append(ScanPlan("chunked", 64, 2, 8, seg))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", nargs="*", default=[
        "vim_tiny-1248-b128-bf16-fwd", "vim_tiny-1248-b128-bf16-bidir",
        "vim_tiny-1248-b1-bf16-fwd", "vim_tiny-1248-b1-bf16-bidir",
        "vim_tiny-1248-b8-bf16-fwd", "vim_base-1248-b8-bf16-fwd", "vim_base-1248-b1-bf16-fwd",
        "vim_tiny-224-b8-bf16-fwd"])
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    head = machine_header()
    print(json.dumps(head), flush=True)
    rows = []
    for name in args.shapes:
        shape = parse_shape(name)
        auto = plan_scan(shape.batch, shape.dim, shape.L, 16, torch.device("cuda"))
        for plan in candidates(shape):
            try:
                r = time_shape(shape, head["l2_bytes"], plan=plan, graphs=shape.batch <= 8)
            except Exception as err:  # a candidate that fails to compile is a result, not a crash
                r = dict(shape=name, error=repr(err)[:200])
            r["plan"] = f"{plan.scheme} bd{plan.block_d} w{plan.num_warps} T{plan.steps_per_group} seg{plan.seg_len}"
            r["auto"] = plan == auto
            rows.append(r)
            print(json.dumps(r), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(header=head, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
