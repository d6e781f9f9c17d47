"""The kernels behind Vim's `fused=True`: each block's residual add + RMSNorm in one
Triton kernel (`mamba_triton.add_rmsnorm`) and both directions' depthwise conv1d +
SiLU in another (`mamba_triton.bidirectional_conv1d`), instead of ~8 PyTorch ops a block.

Fusion is recorded in the variant name: "<scan_backend>-fused" (e.g. "triton-fused").
The kernels need CUDA tensors (or TRITON_INTERPRET=1 on the CPU); when autograd records a
call it goes to their differentiable twins (vim_train_kernels.py).  They are imported when a
fused model is built, so an unfused model never needs Triton.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .vim_train_kernels import add_rmsnorm_train, bidirectional_conv1d_train, grad_aware

FUSED_SUFFIX = "-fused"
FUSABLE_SCAN_BACKENDS = ("torch", "triton")  # the mamba_ssm route keeps the official kernels


def split_variant(variant: str) -> tuple[str, bool]:
    """'triton-fused' -> ('triton', True); 'triton' -> ('triton', False)."""
    if variant.endswith(FUSED_SUFFIX):
        return variant[: -len(FUSED_SUFFIX)], True
    return variant, False


def check_fusable(scan_backend: str) -> None:
    if scan_backend not in FUSABLE_SCAN_BACKENDS:
        raise ValueError(f"Vim fused=True works with scan_backend {' or '.join(map(repr, FUSABLE_SCAN_BACKENDS))}, "
                         f"not {scan_backend!r} (that route runs the official kernels as they are)")


def _on_device_or_interpreter(name: str, fn: Callable) -> Callable:
    def checked(first, *args, **kwargs):
        if first.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
            raise RuntimeError(f"Vim fused=True ({name}) got tensors on {first.device}; move the model and inputs "
                               "to a CUDA device, or build with fused=False on the CPU (or set TRITON_INTERPRET=1 "
                               "before importing vimbench, for slow exact interpretation)")
        return fn(first, *args, **kwargs)
    return checked


# The kernels are called through their torch.library custom ops (mamba_triton.ops), so that
# torch.compile sees each as one node and never traces Triton's launch code.
def load_add_rmsnorm() -> Callable:
    from mamba_triton.ops import add_rmsnorm

    return _on_device_or_interpreter("add_rmsnorm", grad_aware(add_rmsnorm, add_rmsnorm_train))


def load_bidirectional_conv1d() -> Callable:
    from mamba_triton.ops import bidirectional_conv1d

    return _on_device_or_interpreter("bidirectional_conv1d",
                                     grad_aware(bidirectional_conv1d, bidirectional_conv1d_train))
