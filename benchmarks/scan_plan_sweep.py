"""Time candidate ScanPlans (scheme, channel block, warps, steps per group, segment length,
decays on the FMA pipe) on a few Vim shapes, to set the heuristics of `fused.plan_scan`
from measurements.

    PYTHONPATH=.:kernels python benchmarks/scan_plan_sweep.py
    PYTHONPATH=.:kernels python benchmarks/scan_plan_sweep.py --shapes vim_tiny-1248-b128-bf16-bidirdt --poly-states 0 1 2 4

Every candidate is checked against the float64 reference before it is timed.
"""

from __future__ import annotations

import argparse
import dataclasses
import json

import torch
from mamba_triton.bench import machine_header, time_shape
from mamba_triton.selective_scan.fused import ScanPlan, plan_scan
from mamba_triton.shapes import parse_case

L_1248 = 6085


def candidates(shape):
    out = []
    if shape.batch >= 64:
        if shape.direction.startswith("bidir"):
            configs = [(64, 2, 4, 168), (64, 2, 4, None), (64, 2, 2, 168)]
        else:
            configs = [(64, 2, 4, 168), (64, 2, 4, None), (64, 2, 2, 168), (32, 1, 4, None)]
        for bd, nw, T, regs in configs:
            out.append(ScanPlan("direct", bd, nw, T, shape.L, max_registers=regs))
    else:
        for seg in (32, 64, 128):
            for bd, T in [(32, 8), (32, 4), (64, 4)]:
                if seg < shape.L and shape.L / seg <= 128:
                    out.append(ScanPlan("chunked", bd, 1, T, seg))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shapes", nargs="*", default=[
        "vim_tiny-1248-b128-bf16-fwd", "vim_tiny-1248-b128-bf16-bidir",
        "vim_tiny-1248-b1-bf16-fwd", "vim_tiny-1248-b8-bf16-fwd"])
    ap.add_argument("--poly-states", nargs="+", type=int, default=[0], metavar="K",
                    help="also try each plan with K of the N decays per step as FMA polynomials (ScanPlan.poly_exp_states)")
    ap.add_argument("--auto-only", action="store_true",
                    help="only the plan plan_scan picks (with each --poly-states): one compile per variant")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    head = machine_header()
    print(json.dumps(head), flush=True)
    rows = []
    for name in args.shapes:
        shape = parse_case(name)
        auto = plan_scan(shape.batch, shape.dim, shape.L, 16, torch.device("cuda"),
                         directions=2 if shape.direction.startswith("bidir") else 1,
                         dt_rank=shape.dt_rank if shape.direction == "bidirdt" else 0)
        base = [auto] if args.auto_only else candidates(shape)
        plans = [dataclasses.replace(p, poly_exp_states=k) for p in base for k in args.poly_states]
        for plan in plans:
            try:
                r = time_shape(shape, head["l2_bytes"], plan=plan, graphs=shape.batch <= 8, check_all=False)
            except Exception as err:  # a candidate that fails to compile is a result, not a crash
                r = dict(shape=name, error=repr(err)[:200])
            r["plan"] = (f"{plan.scheme} bd{plan.block_d} w{plan.num_warps} T{plan.steps_per_group} "
                         f"seg{plan.seg_len} regs{plan.max_registers} poly{plan.poly_exp_states}")
            r["auto"] = plan == auto
            rows.append(r)
            print(json.dumps(r), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(header=head, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
