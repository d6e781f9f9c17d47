"""A/B of the inference-weights cache (vimbench/models/inference_weights.py) on one GPU.

    PYTHONPATH=.:kernels python benchmarks/inference_weights_ab.py --res 224 1248 --batch 128

Vim-Ti (triton-fused), amp-fp16, eager, under torch.inference_mode: the same model and input
timed with the cache off (every block derives A, the padded x_proj weight and autocast's
16-bit weight copies each call) and on, in alternating rounds so drift lands on both.  A round
is `iters` forwards back to back, timed by wall clock with the GPU synchronised at both ends:
what a user waiting for results sees, host overhead included.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from vimbench.models import inference_weights
from vimbench.models.vim import vim


def _round(model, images, iters: int) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(iters):
        model(images)
    torch.cuda.synchronize()
    return (time.perf_counter() - t0) / iters


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--res", type=int, nargs="+", default=[224, 1248])
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args(argv)
    print(f"{torch.cuda.get_device_name()}; Vim-Ti triton-fused, amp-fp16, eager, batch {args.batch}")
    print("| px | cache off img/s | cache on img/s | on/off |\n|---|---|---|---|")
    for res in args.res:
        model = vim("tiny", img_size=res, scan_backend="triton", fused=True).cuda().eval()
        images = torch.randn(args.batch, 3, res, res, device="cuda")
        iters = max(3, int(2000 / res))
        times = {False: [], True: []}
        with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
            for enabled in (False, True):  # warm-up: JIT, autotune, the cache's first fill
                inference_weights.ENABLED = enabled
                out = model(images)
                assert torch.isfinite(out).all()
                _round(model, images, 2)
            for r in range(args.rounds):
                for enabled in ((False, True) if r % 2 == 0 else (True, False)):
                    inference_weights.ENABLED = enabled
                    times[enabled].append(_round(model, images, iters))
        off, on = (args.batch / statistics.median(times[k]) for k in (False, True))
        print(f"| {res} | {off:,.0f} | {on:,.0f} | {on / off:.3f}x |", flush=True)
        del model, images
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
