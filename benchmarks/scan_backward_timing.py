"""Time mamba_triton's selective-scan backward (`selective_scan_bwd`, one direction, bf16) at
Vim-Ti training shapes, one JSON line per (shape, tiling); with --conv also the two-direction
conv1d backward at the same shapes.  Run it from two trees in one
device call to compare kernels on one card (an A/B): the script only imports the tree on
PYTHONPATH.

    PYTHONPATH=$PWD:$PWD/kernels python3 benchmarks/scan_backward_timing.py --tilings 4,64,2 2,64,2
"""

from __future__ import annotations

import argparse
import inspect
import json

import torch

# (px, batch) of suites/train.toml: ~64k tokens a step
SHAPES = {"224-b64": (197, 64), "224-b256": (197, 256), "512-b64": (1025, 64), "768-b32": (2305, 32),
          "1024-b16": (4097, 16)}


def _inputs(L, batch, dim=384, N=16, R=12, device="cuda"):
    """Vim's layouts: u, z, dout (batch, L, E) memory seen as (batch, E, L); B, C columns of
    x_proj's (batch, L, 48) output; delta fp32 (batch, L, E) memory; A < 0."""
    g = torch.Generator(device=device).manual_seed(0)
    bf = dict(device=device, dtype=torch.bfloat16)
    seq = lambda: torch.randn(batch, L, dim, generator=g, **bf).transpose(1, 2)
    proj = torch.randn(batch, L, 48, generator=g, **bf)
    return dict(dout=seq(), u=seq(), delta=(torch.randn(batch, L, dim, generator=g, device=device) * 0.5).transpose(1, 2),
                A=-torch.rand(dim, N, generator=g, device=device) - 0.05, B=proj[:, :, R:R + N].transpose(1, 2),
                C=proj[:, :, R + N:R + 2 * N].transpose(1, 2), D=torch.randn(dim, generator=g, device=device),
                z=torch.randn(batch, L, 2 * dim, generator=g, **bf)[:, :, dim:].transpose(1, 2),
                delta_bias=torch.randn(dim, generator=g, device=device) * 0.3)


def _time_ms(fn, iters):
    fn()
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(iters):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def main() -> None:
    from mamba_triton.selective_scan import selective_scan_bwd

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES))
    parser.add_argument("--tilings", nargs="*", default=[], metavar="T,BLOCK_D,WARPS",
                        help="tilings to try besides the launcher's default (new kernel only)")
    parser.add_argument("--segments", nargs="*", type=int, default=[],
                        help="time-segment counts to try besides the default (kernels with segments only)")
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--label", default="")
    parser.add_argument("--conv", action="store_true",
                        help="also time the two-direction conv1d backward (bidirectional_conv1d_bwd) at each shape")
    args = parser.parse_args()
    params = inspect.signature(selective_scan_bwd).parameters
    for name in args.shapes:
        L, batch = SHAPES[name]
        x = _inputs(L, batch)
        tilings = [None] + ([tuple(map(int, t.split(","))) for t in args.tilings] if "checkpoint" in params else [])
        if "segments" in params:
            tilings += [("segments", n) for n in args.segments]
        for reverse in (False, True):
            for tiling in tilings:
                if tiling is None:
                    kw = {}
                elif tiling[0] == "segments":
                    kw = dict(segments=tiling[1])
                else:
                    kw = dict(checkpoint=tiling[0], block_d=tiling[1], num_warps=tiling[2])
                fn = lambda: selective_scan_bwd(x["dout"], x["u"], x["delta"], x["A"], x["B"], x["C"], D=x["D"],
                                                z=x["z"], delta_bias=x["delta_bias"], delta_softplus=True,
                                                reverse=reverse, scale=0.5, **kw)
                try:
                    ms = _time_ms(fn, args.iters)
                    err = None
                except Exception as e:  # a tiling that does not compile or fit: say so, go on
                    ms, err = None, f"{type(e).__name__}: {str(e)[:200]}"
                print(json.dumps(dict(label=args.label, shape=name, reverse=reverse, tiling=tiling, ms=ms, error=err,
                                      card=torch.cuda.get_device_name())), flush=True)
        if args.conv:
            print(json.dumps(dict(label=args.label, shape=name, kernel="bidirectional_conv1d_bwd",
                                  ms=_time_ms(_conv_backward(L, batch), args.iters),
                                  card=torch.cuda.get_device_name())), flush=True)


def _conv_backward(L, batch, dim=384, device="cuda"):
    """bidirectional_conv1d_bwd as Vim's training step calls it: x the x half of in_proj's
    (batch, L, 2E) bf16 output, the outputs' gradients (batch, L, E) bf16, fp32 taps."""
    from mamba_triton.causal_conv1d import bidirectional_conv1d_bwd

    g = torch.Generator(device=device).manual_seed(1)
    bf = dict(device=device, dtype=torch.bfloat16)
    x = torch.randn(batch, L, 2 * dim, generator=g, **bf)[..., :dim]
    dout_f, dout_b = (torch.randn(batch, L, dim, generator=g, **bf) for _ in range(2))
    w, wb = (torch.randn(dim, 4, generator=g, device=device) * 0.5 for _ in range(2))
    b, bb = (torch.randn(dim, generator=g, device=device) for _ in range(2))
    return lambda: bidirectional_conv1d_bwd(x, w, b, wb, bb, dout_f, dout_b)


if __name__ == "__main__":
    main()
