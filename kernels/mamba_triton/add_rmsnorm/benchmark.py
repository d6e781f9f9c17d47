"""Benchmark the fused add + RMSNorm against the PyTorch ops the model would run
otherwise, at a Vim block's shape; checks correctness first.

    python -m mamba_triton.add_rmsnorm.benchmark [--batch 128 --tokens 6085 --dim 192]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from mamba_triton._bench import card, copy_gbs, print_table, time_ms, write_csv
from mamba_triton.add_rmsnorm import add_rmsnorm, add_rmsnorm_ref

LAUNCH_SHAPES = [(1, 1), (2, 1), (4, 2), (8, 4), (16, 4), (32, 4), (32, 8), (64, 8)]  # (block_m, num_warps)


def unfused_torch(hidden, residual, weight, eps=1e-5):
    """What an unfused Vim block does: an fp32 add, then F.rms_norm in fp32, then a cast."""
    residual = hidden.float() if residual is None else residual + hidden.float()
    out = F.rms_norm(residual, (residual.shape[-1],), weight.float(), eps).to(hidden.dtype)
    return out, residual


def run(batch: int, tokens: int, dim: int, dtype: torch.dtype, gbs_copy: float) -> list[dict]:
    hidden = torch.randn(batch, tokens, dim, device="cuda", dtype=dtype)
    residual = torch.randn(batch, tokens, dim, device="cuda", dtype=torch.float32)
    weight = torch.rand(dim, device="cuda") + 0.5
    # correctness at the benchmark shape, against float64
    out, res = add_rmsnorm(hidden, residual, weight)
    ref_out, ref_res = add_rmsnorm_ref(hidden.double(), residual.double(), weight.double())
    rel_out = ((out.double() - ref_out).norm() / ref_out.norm()).item()
    rel_res = ((res.double() - ref_res).norm() / ref_res.norm()).item()
    del ref_out, ref_res
    torch.cuda.empty_cache()

    e = hidden.element_size()
    min_bytes = batch * tokens * dim * (e + 4 + e + 4)  # read hidden, residual; write out, residual
    common = dict(op="add_rmsnorm", dtype=str(dtype).removeprefix("torch."), batch=batch, tokens=tokens,
                  dim=dim, min_gb=min_bytes / 1e9, rel_err_out=rel_out, rel_err_residual=rel_res)
    rows = []

    def add(impl, t):
        rows.append({**common, "impl": impl, **t, "gbs": min_bytes / (t["ms"] * 1e-3) / 1e9,
                     "frac_copy": min_bytes / (t["ms"] * 1e-3) / 1e9 / gbs_copy})
    with torch.no_grad():
        add("torch_unfused", time_ms(lambda: unfused_torch(hidden, residual, weight)))
        for block_m, warps in LAUNCH_SHAPES:
            add(f"triton_m{block_m}_w{warps}",
                time_ms(lambda: add_rmsnorm(hidden, residual, weight, block_m=block_m, num_warps=warps)))
        add("triton_default", time_ms(lambda: add_rmsnorm(hidden, residual, weight)))
    return rows


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--tokens", type=int, default=6085)
    p.add_argument("--dim", type=int, default=192)
    p.add_argument("--dtypes", default="bfloat16,float16")
    p.add_argument("--csv", help="also write the rows to this CSV file")
    args = p.parse_args(argv)
    gbs = copy_gbs()
    print(f"# add_rmsnorm on {card()}; copy {gbs:.0f} GB/s")
    rows = []
    for name in args.dtypes.split(","):
        rows += run(args.batch, args.tokens, args.dim, getattr(torch, name), gbs)
    for r in rows:
        r["card"], r["copy_gbs"] = card(), gbs
    print_table(rows, ["op", "dtype", "impl", "ms", "ms_p10", "ms_p90", "gbs", "frac_copy", "rel_err_out"])
    if args.csv:
        write_csv(rows, args.csv)
    return rows


if __name__ == "__main__":
    main()
