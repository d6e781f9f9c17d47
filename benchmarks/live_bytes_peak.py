"""The most tensor memory one eager Vim forward holds at once, without a GPU: what the model
keeps alive, before the caching allocator's rounding (issue 16: peak memory at 1248 px).

    PYTHONPATH=.:kernels python benchmarks/live_bytes_peak.py --px 1248 --batch 128

The model runs on fake CUDA tensors (vimbench.staticcheck.capture), in the harness's
inference setting (inference_mode, fp16 autocast): once to fill its caches, then once
measured.  Every tensor an operation returns is followed to its storage; a storage counts
from the operation that made it until the last tensor on it is gone.  The images, the
parameters and the kept inference weights count throughout, as in the harness's peak.
The GPU's max_memory_allocated is this plus the allocator's rounding (512-byte blocks) and
any workspace cuBLAS allocates outside PyTorch's view.
"""

from __future__ import annotations

import argparse
import collections
import traceback
import warnings
import weakref
from unittest import mock

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from vimbench.staticcheck.capture import cuda_autocast, fake_cuda, recorded_launches

_OURS = ("vimbench/", "mamba_triton/")


class LiveBytes(TorchDispatchMode):
    """Live storage bytes made by the operations run under it: `peak`, and `at_peak` (the
    storages alive then, by the line of our code that made them)."""

    def __init__(self, held: list[torch.Tensor] = ()):
        """`held`: tensors made before (inputs, weights), alive throughout."""
        super().__init__()
        self.live: dict[int, tuple[int, str]] = {}  # storage -> (bytes, made at)
        self.refs: collections.Counter = collections.Counter()
        for t in held:  # a view of one of these is no new memory; a never-released reference
            key = t.untyped_storage()._cdata
            self.live[key] = (t.untyped_storage().nbytes(), "(held before the forward)")
            self.refs[key] = 1
        self.current = self.peak = sum(nbytes for nbytes, _ in self.live.values())
        self.at_peak: dict[str, int] = {}

    def _release(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            del self.refs[key]
            self.current -= self.live.pop(key)[0]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if not isinstance(t, torch.Tensor):
                continue
            key = t.untyped_storage()._cdata
            if key not in self.live:
                ours = [f for f in traceback.extract_stack() if any(p in f.filename for p in _OURS)]
                site = f"{ours[-1].filename.rsplit('/', 1)[-1]}:{ours[-1].lineno}" if ours else "(torch)"
                self.live[key] = (t.untyped_storage().nbytes(), site)
                self.current += self.live[key][0]
                if self.current > self.peak:
                    self.peak = self.current
                    self.at_peak = collections.Counter()
                    for nbytes, made_at in self.live.values():
                        self.at_peak[made_at] += nbytes
            self.refs[key] += 1
            weakref.finalize(t, self._release, key)
        return out


def measure(px: int, batch: int, depth: int | None = None, variant: str = "triton-fused"):
    """(peak bytes, {site: bytes alive at the peak}, bytes held before the forward) of one
    eager forward."""
    from vimbench.models import create_model

    model = create_model("vim_tiny", variant, px)
    if depth is not None:
        model.layers = model.layers[:depth]
    # fake tensors cannot answer "is this stream capturing a CUDA graph?" (a driver call)
    no_capture = mock.patch.object(torch.cuda, "is_current_stream_capturing", lambda: False)
    with fake_cuda(), recorded_launches(keep=False), no_capture, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = model.to("cuda").eval()
        x = torch.randn(batch, 3, px, px, device="cuda")
        with torch.inference_mode(), cuda_autocast(torch.float16):
            model.forward_features(x)  # fills the inference-weights cache
            kept = [t for m in model.modules() for _, t in m.__dict__.get("_inference_weights", {}).values()]
            with LiveBytes([x, *model.parameters(), *kept]) as live:
                baseline = live.current
                model.forward_features(x)
    return live.peak, dict(live.at_peak), baseline


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--px", type=int, default=1248)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--variant", default="triton-fused")
    args = parser.parse_args(argv)
    peak, at_peak, baseline = measure(args.px, args.batch, variant=args.variant)
    gib = 1 << 30
    print(f"Vim-Ti {args.variant} {args.px} px batch {args.batch}, amp-fp16, eager: peak of live tensors "
          f"{peak / gib:.3f} GiB (images, weights and kept inference weights {baseline / gib:.3f} GiB)\n")
    print("| alive at the peak, made at | GiB |\n|---|---:|")
    for site, nbytes in sorted(at_peak.items(), key=lambda kv: -kv[1]):
        if nbytes >= 1 << 20:
            print(f"| `{site}` | {nbytes / gib:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
