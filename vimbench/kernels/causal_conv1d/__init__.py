"""Depthwise causal conv1d (k=4) + SiLU for both Vim directions (optionally with each
direction's x_proj in the same kernel): references and Triton kernels."""

from .fused import bidirectional_conv1d
from .reference import bidirectional_conv1d_ref, bidirectional_conv1d_xproj_ref, causal_conv1d_ref
from .with_xproj import bidirectional_conv1d_xproj

__all__ = ["bidirectional_conv1d", "bidirectional_conv1d_ref", "bidirectional_conv1d_xproj",
           "bidirectional_conv1d_xproj_ref", "causal_conv1d_ref"]
