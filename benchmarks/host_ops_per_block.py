"""Host-side work of one Vim forward without a GPU: the ATen operations and Triton launches
each block issues, and the source line that issues each (issue 16: at 224 px eager Vim-Ti
is host-bound, so every operation a block dispatches costs time the GPU waits for).

    PYTHONPATH=.:kernels python benchmarks/host_ops_per_block.py --px 224 --batch 128

The model runs on fake CUDA tensors (vimbench.staticcheck.capture: torch's FakeTensorMode,
device queries answered as an H100, Triton launches recorded instead of run), in the
harness's inference setting (inference_mode, fp16 autocast), once to fill the model's
caches and once counted.  Counts, not times: a fake tensor's dispatch costs far more than a
real one's, so wall time here says nothing about the GPU host path.
"""

from __future__ import annotations

import argparse
import collections
import traceback
import warnings
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode

from vimbench.staticcheck.capture import cuda_autocast, fake_cuda, recorded_launches

_OURS = ("vimbench/", "mamba_triton/")


class _CountOps(TorchDispatchMode):
    """Counts every ATen operation, keyed by (operation, the innermost line of our code
    that issued it)."""

    def __init__(self):
        super().__init__()
        self.sites: collections.Counter = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        ours = [f for f in traceback.extract_stack() if any(p in f.filename for p in _OURS)]
        site = f"{ours[-1].filename.rsplit('/', 2)[-2]}/{ours[-1].filename.rsplit('/', 1)[-1]}:{ours[-1].lineno}" \
            if ours else "(outside vimbench)"
        self.sites[(str(func.overloadpacket), site)] += 1
        return func(*args, **(kwargs or {}))


def count(px: int, batch: int, depth: int | None = None):
    """(ATen operation counter by (op, site), Triton launch counter by kernel, blocks)."""
    from vimbench.models.vim import vim

    kwargs = {} if depth is None else dict(depth=depth)
    model = vim("tiny", img_size=px, scan_backend="triton", fused=True, **kwargs).eval()
    # fake tensors cannot answer "is this stream capturing a CUDA graph?" (a driver call)
    no_capture = mock.patch.object(torch.cuda, "is_current_stream_capturing", lambda: False)
    with fake_cuda(), recorded_launches() as launches, no_capture, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fake tensors' data_ptr and autocast deprecation notes
        model = model.to("cuda")
        x = torch.randn(batch, 3, px, px, device="cuda")
        with torch.inference_mode(), cuda_autocast(torch.float16):
            model.forward_features(x)  # fills the inference-weights cache
            first = len(launches)
            with _CountOps() as ops:
                model.forward_features(x)
    kernels = collections.Counter(launch.kernel.__name__ for launch in launches[first:])
    return ops.sites, kernels, len(model.layers)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=224)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--top", type=int, default=25, help="sites listed")
    args = parser.parse_args(argv)
    sites, kernels, blocks = count(args.px, args.batch)
    total = sum(sites.values())
    print(f"Vim-Ti {args.px} px batch {args.batch}, {blocks} blocks, one inference forward (amp-fp16):")
    print(f"  ATen operations: {total} ({total / blocks:.1f} a block); Triton launches: "
          f"{sum(kernels.values())} ({', '.join(f'{k} {v}' for k, v in kernels.most_common())})\n")
    print("| ATen operation | issued at | per forward | per block |\n|---|---|---:|---:|")
    for (op, site), n in sites.most_common(args.top):
        print(f"| `{op}` | `{site}` | {n} | {n / blocks:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
