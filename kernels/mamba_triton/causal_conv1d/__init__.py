"""Depthwise causal conv1d (k=4) + SiLU for both Vim directions: reference and Triton kernel."""

from .fused import bidirectional_conv1d
from .reference import bidirectional_conv1d_ref, causal_conv1d_ref

__all__ = ["bidirectional_conv1d", "bidirectional_conv1d_ref", "causal_conv1d_ref"]
