"""Fused residual add + RMSNorm (the start of every Vim block): reference, Triton forward
kernel, Triton backward kernel and the differentiable `add_rmsnorm_autograd`."""

from .autograd import add_rmsnorm_autograd
from .backward import add_rmsnorm_bwd
from .fused import add_rmsnorm
from .reference import add_rmsnorm_bwd_ref, add_rmsnorm_ref

__all__ = ["add_rmsnorm", "add_rmsnorm_ref", "add_rmsnorm_autograd", "add_rmsnorm_bwd", "add_rmsnorm_bwd_ref"]
