"""Time the conv1d + x_proj fusion against the unfused pair (conv kernel, then two x_proj
GEMMs) at Vim-Ti's shape, over a few tile configurations.

    PYTHONPATH=. python benchmarks/conv_xproj_sweep.py [--batch 128 --res 1248]

Every configuration is checked against the unfused result before it is timed.
"""

from __future__ import annotations

import argparse
import json

import torch
import torch.nn.functional as F
import triton.testing

from vimbench.kernels.causal_conv1d import bidirectional_conv1d, bidirectional_conv1d_xproj
from vimbench.testing import rel_err

CONFIGS = [(64, 16, 8), (32, 16, 4), (64, 32, 8), (32, 32, 8), (64, 64, 8)]  # block_l, block_e, warps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--res", type=int, default=1248)
    args = ap.parse_args()
    E, P, L = 384, 44, (args.res // 16) ** 2 + 1
    g = torch.Generator(device="cuda").manual_seed(0)
    xz = torch.randn(args.batch, L, 2 * E, device="cuda", dtype=torch.float16, generator=g)
    x = xz[..., :E]
    w, w_b = (torch.randn(E, 1, 4, device="cuda", generator=g) * 0.5 for _ in range(2))
    b, b_b = (torch.randn(E, device="cuda", generator=g) for _ in range(2))
    pw, pw_b = (torch.randn(P, E, device="cuda", generator=g) * E**-0.5 for _ in range(2))

    def unfused():
        u_f, u_b = bidirectional_conv1d(x, w, b, w_b, b_b)
        return u_f, u_b, F.linear(u_f, pw.half()), F.linear(u_b, pw_b.half())

    with torch.no_grad():
        want = unfused()
        rows = [dict(config="unfused (conv kernel + 2 GEMMs)",
                     ms=triton.testing.do_bench(unfused, warmup=25, rep=200, return_mode="median"))]
        for bl, be, nw in CONFIGS:
            def fused(bl=bl, be=be, nw=nw):
                return bidirectional_conv1d_xproj(x, w, b, w_b, b_b, pw, pw_b, block_l=bl, block_e=be, num_warps=nw)
            got = fused()
            err = max(rel_err(a.double(), c.double()) for a, c in zip(want, got, strict=True))
            row = dict(config=f"fused BL{bl} BE{be} w{nw}", err=err)
            if err < 1e-2:
                row["ms"] = triton.testing.do_bench(fused, warmup=25, rep=200, return_mode="median")
            rows.append(row)
    head = dict(gpu=torch.cuda.get_device_name(0), batch=args.batch, L=L, dtype="float16")
    print(json.dumps(head))
    for r in rows:
        print(json.dumps(r))


if __name__ == "__main__":
    main()
