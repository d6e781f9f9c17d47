"""Fused residual add + RMSNorm (the start of every Vim block): reference and Triton kernel."""

from .fused import add_rmsnorm
from .reference import add_rmsnorm_ref

__all__ = ["add_rmsnorm", "add_rmsnorm_ref"]
