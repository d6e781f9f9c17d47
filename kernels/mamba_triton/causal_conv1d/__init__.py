"""Depthwise causal conv1d: causal_conv1d's `causal_conv1d_fn` (widths 2..4, optional SiLU)
and both Vim directions (k=4) + SiLU in one kernel; references beside the Triton kernels.
`causal_conv1d_autograd` and `bidirectional_conv1d_autograd` are the same calls with a Triton
backward (one kernel, `backward.py`, in a one- or two-direction mode)."""

from .autograd import bidirectional_conv1d_autograd, causal_conv1d_autograd
from .backward import bidirectional_conv1d_bwd, causal_conv1d_bwd
from .fused import bidirectional_conv1d, causal_conv1d_fn
from .reference import (
    bidirectional_conv1d_bwd_ref,
    bidirectional_conv1d_ref,
    causal_conv1d_fn_bwd_ref,
    causal_conv1d_fn_ref,
    causal_conv1d_ref,
)

__all__ = ["causal_conv1d_fn", "bidirectional_conv1d", "causal_conv1d_fn_ref", "bidirectional_conv1d_ref",
           "causal_conv1d_ref", "causal_conv1d_autograd", "causal_conv1d_bwd", "causal_conv1d_fn_bwd_ref",
           "bidirectional_conv1d_autograd", "bidirectional_conv1d_bwd", "bidirectional_conv1d_bwd_ref"]
