"""Host time of one Vim-Ti block's inference forward, without a GPU: what our Python costs
between kernel launches (issue 16: at 224 px eager Vim-Ti is host-bound).

    PYTHONPATH=.:kernels python benchmarks/host_time_per_block.py [--repeats 7] [--profile]

The model runs on CPU tensors under the Triton interpreter with every Triton launch
replaced by a no-op, and F.linear by an allocation of its output, so no kernel computes:
what is timed is the model's and the launchers' Python, their view and allocation
operations, and Triton's host-side argument handling up to the launch.  Not timed: the
launch itself (Triton's binder and the driver call) and the GEMMs' dispatch to cuBLAS.
A CPU is slower or faster than a GPU host's, so compare two trees on one machine (a
ratio), not against a GPU's time.  `host_ops_per_block.py` counts the ATen operations
the same forward issues.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import os
import pstats
import statistics
import time
from unittest import mock

os.environ.setdefault("TRITON_INTERPRET", "1")  # read when the kernels are decorated

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402


@contextlib.contextmanager
def kernels_elided():
    """Triton launches become no-ops (counted), F.linear an empty output of its shape."""
    from triton.runtime.interpreter import InterpretedFunction

    counter = {"launches": 0}

    def launch(self, *args, grid, warmup=False, **kwargs):
        counter["launches"] += 1

    def linear(x, weight, bias=None):
        return x.new_empty(*x.shape[:-1], weight.shape[0])

    with mock.patch.object(InterpretedFunction, "run", launch), mock.patch.object(F, "linear", linear):
        yield counter


def time_per_block(px: int, batch: int, repeats: int, iters: int, profile: bool = False, depth: int | None = None):
    """(median us a block over `repeats` timings of `iters` forwards, launches a forward, profile or None)."""
    from vimbench.models.vim import vim

    kwargs = {} if depth is None else dict(depth=depth)
    model = vim("tiny", img_size=px, scan_backend="triton", fused=True, **kwargs).eval()
    blocks = len(model.layers)
    x = torch.randn(batch, 3, px, px)
    with kernels_elided() as counter, torch.inference_mode():
        for _ in range(3):  # fills the model's inference-weights cache
            model.forward_features(x)
        counter["launches"] = 0
        model.forward_features(x)
        launches = counter["launches"]
        samples = []
        for _ in range(repeats):
            start = time.perf_counter()
            for _ in range(iters):
                model.forward_features(x)
            samples.append((time.perf_counter() - start) / iters / blocks * 1e6)
        stats = None
        if profile:
            profiler = cProfile.Profile()
            profiler.runcall(lambda: [model.forward_features(x) for _ in range(iters)])
            stats = pstats.Stats(profiler)
    return statistics.median(samples), launches, stats


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=32, help="image size (small: no kernel computes anyway)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--profile", action="store_true", help="also print the top functions by own time")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    us, launches, stats = time_per_block(args.px, args.batch, args.repeats, args.iters, args.profile)
    print(f"Vim-Ti {args.px} px batch {args.batch}: {us:.1f} us of host time a block (median of "
          f"{args.repeats}), {launches} Triton launches a forward, on this CPU with kernels elided")
    if stats is not None:
        stats.sort_stats("tottime").print_stats(20)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
