"""x_proj's GEMM at Vim-Ti's width (R + 2N = 44 outputs) against the same GEMM with the
weight padded to 48 rows (zero rows appended, as the mixer does).

44 outputs make 88-byte rows; cuBLAS then picks a 2-element-aligned kernel (the H100
profile shows cutlass_80_..._align2 for x_proj).  This measures what padding buys.

    PYTHONPATH=.:kernels python benchmarks/xproj_width.py [--batch 128] [--tokens 6085] [--json F]

Both outputs are checked against a float64 product before anything is timed.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
from mamba_triton._bench import card, copy_gbs, time_ms


def padded_weight(weight: torch.Tensor, multiple: int = 8) -> torch.Tensor:
    """weight (R + 2N, E) with zero rows appended up to a multiple of `multiple` outputs,
    as the Vim mixer pads it (BiMambaV2Mixer._padded_x_proj_weight)."""
    return F.pad(weight, (0, 0, 0, -weight.shape[0] % multiple))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--tokens", type=int, default=6085)
    ap.add_argument("--dim", type=int, default=384, help="E, the GEMM's K")
    ap.add_argument("--rank", type=int, default=12)
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    torch.manual_seed(0)
    dev, dt = "cuda", torch.float16
    u = torch.randn(args.batch, args.tokens, args.dim, device=dev, dtype=dt) * 0.5
    w = torch.randn(args.rank + 2 * args.state, args.dim, device=dev, dtype=dt) / args.dim ** 0.5
    wp = padded_weight(w)
    plain = F.linear(u, w)
    padded = F.linear(u, wp)
    ref = F.linear(u[:8].double(), w.double())  # a slice is enough to catch a wrong layout
    keep = padded[..., : w.shape[0]]
    for name, out in (("plain", plain), ("padded", keep)):
        err = ((out[:8].double() - ref).norm() / ref.norm()).item()
        if not err < 2e-3:
            raise SystemExit(f"{name} x_proj output is wrong: relative error {err:.2e}")
    rows = []
    gbs = copy_gbs()
    for name, weight in (("width 44", w), (f"width {wp.shape[0]} (padded)", wp)):
        t = time_ms(lambda weight=weight: F.linear(u, weight))
        moved = u.numel() * 2 + u.shape[0] * u.shape[1] * weight.shape[0] * 2
        rows.append({"case": name, **t, "GB/s": moved / t["ms"] / 1e6, "copy GB/s": gbs})
    print(f"card: {card()}  u {tuple(u.shape)} fp16")
    for r in rows:
        print(f"{r['case']:>20}: {r['ms']:.4f} ms (p10 {r['ms_p10']:.4f}, p90 {r['ms_p90']:.4f}), "
              f"{r['GB/s']:.0f} GB/s of {r['copy GB/s']:.0f} copy")
    print(f"padded / plain: {rows[1]['ms'] / rows[0]['ms']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"card": card(), "shape": list(u.shape), "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
