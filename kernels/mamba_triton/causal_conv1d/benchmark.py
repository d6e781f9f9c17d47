"""Benchmark the fused bidirectional conv1d + SiLU against the PyTorch ops the model
would run otherwise, at a Vim mixer's shape (x a strided view of in_proj's output);
checks correctness first.

    python -m mamba_triton.causal_conv1d.benchmark [--batch 128 --tokens 6085 --inner 384]
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

from mamba_triton._bench import card, copy_gbs, print_table, time_ms, write_csv
from mamba_triton.causal_conv1d import bidirectional_conv1d, bidirectional_conv1d_ref

LAUNCH_SHAPES = [(16, 64, 4), (32, 64, 4), (32, 128, 4), (64, 64, 4), (64, 128, 8), (128, 64, 8), (16, 128, 4), (8, 256, 4)]


def unfused_torch(x, w, b, w_b, b_b):
    """Per direction: F.conv1d on the (batch, E, L) view (the anti-causal one with the taps
    reversed and the output shifted), back to (batch, L, E) contiguous, SiLU."""
    L, E = x.shape[1], x.shape[2]
    x_cl = x.transpose(1, 2)
    y_f = F.conv1d(x_cl, w, b, padding=3, groups=E)[..., :L]
    y_b = F.conv1d(x_cl, w_b.flip(-1), b_b, padding=3, groups=E)[..., 3:]
    return (F.silu(y_f.transpose(1, 2).contiguous(), inplace=True),
            F.silu(y_b.transpose(1, 2).contiguous(), inplace=True))


def run(batch: int, tokens: int, inner: int, dtype: torch.dtype, gbs_copy: float) -> list[dict]:
    xz = torch.randn(batch, tokens, 2 * inner, device="cuda", dtype=dtype)
    x = xz[..., :inner]  # the x half of in_proj's output: row stride 2E
    w, w_b = (torch.randn(inner, 1, 4, device="cuda") * 0.5 for _ in range(2))
    b, b_b = (torch.randn(inner, device="cuda") for _ in range(2))
    y_f, y_b = bidirectional_conv1d(x, w, b, w_b, b_b)
    rel = []
    for i, y in enumerate((y_f, y_b)):
        ref = bidirectional_conv1d_ref(x.double(), w.double(), b.double(), w_b.double(), b_b.double())[i]
        rel.append(((y.double() - ref).norm() / ref.norm()).item())
        del ref
    del y_f, y_b
    torch.cuda.empty_cache()

    e = x.element_size()
    min_bytes = batch * tokens * inner * 3 * e  # read x once, write two outputs
    common = dict(op="bidirectional_conv1d", dtype=str(dtype).removeprefix("torch."), batch=batch,
                  tokens=tokens, inner=inner, min_gb=min_bytes / 1e9, rel_err_f=rel[0], rel_err_b=rel[1])
    rows = []

    def add(impl, t):
        rows.append({**common, "impl": impl, **t, "gbs": min_bytes / (t["ms"] * 1e-3) / 1e9,
                     "frac_copy": min_bytes / (t["ms"] * 1e-3) / 1e9 / gbs_copy})
    with torch.no_grad():
        # autocast would hand F.conv1d weights cast to x's dtype: do that once, outside the timing
        w16, b16, wb16, bb16 = (t.to(dtype) for t in (w, b, w_b, b_b))
        add("torch_unfused", time_ms(lambda: unfused_torch(x, w16, b16, wb16, bb16)))
        for bl, be, warps in LAUNCH_SHAPES:
            add(f"triton_l{bl}_e{be}_w{warps}",
                time_ms(lambda: bidirectional_conv1d(x, w, b, w_b, b_b, block_l=bl, block_e=be, num_warps=warps)))
        add("triton_default", time_ms(lambda: bidirectional_conv1d(x, w, b, w_b, b_b)))
    return rows


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--tokens", type=int, default=6085)
    p.add_argument("--inner", type=int, default=384)
    p.add_argument("--dtypes", default="bfloat16,float16")
    p.add_argument("--csv", help="also write the rows to this CSV file")
    args = p.parse_args(argv)
    gbs = copy_gbs()
    print(f"# bidirectional_conv1d on {card()}; copy {gbs:.0f} GB/s")
    rows = []
    for name in args.dtypes.split(","):
        rows += run(args.batch, args.tokens, args.inner, getattr(torch, name), gbs)
    for r in rows:
        r["card"], r["copy_gbs"] = card(), gbs
    print_table(rows, ["op", "dtype", "impl", "ms", "ms_p10", "ms_p90", "gbs", "frac_copy", "rel_err_f", "rel_err_b"])
    if args.csv:
        write_csv(rows, args.csv)
    return rows


if __name__ == "__main__":
    main()
