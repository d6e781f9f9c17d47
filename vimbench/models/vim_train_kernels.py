"""Training on the Triton routes: each kernel call goes to its differentiable twin (Triton
forward + Triton backward, mamba_triton's `*_train_fn` / `*_autograd`) when autograd will
record it, and to the inference kernel, exactly as before, otherwise.

    scan          ops.bidirectional_scan  -> bidirectional_scan_train_fn   (no `out=` buffer)
    add+RMSNorm   ops.add_rmsnorm         -> add_rmsnorm_autograd          (no in-place residual)
    both convs    ops.bidirectional_conv1d -> bidirectional_conv1d_autograd (one backward kernel)

The check costs one `torch.is_grad_enabled()` under no_grad / inference_mode (the benchmark's
inference cells), so inference runs the same kernels at the same speed.  Training is eager
only (modes.py): under torch.compile the compiled graph keeps calling the inference ops.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def records_grad(*args, **kwargs) -> bool:
    """Whether autograd would record a call on these arguments."""
    if not torch.is_grad_enabled():
        return False
    return any(isinstance(t, torch.Tensor) and t.requires_grad for t in (*args, *kwargs.values()))


def grad_aware(infer: Callable, train: Callable) -> Callable:
    """`infer(*args, **kwargs)`, or `train(...)` with the same arguments when autograd records."""
    def call(*args, **kwargs):
        return (train if records_grad(*args, **kwargs) else infer)(*args, **kwargs)
    return call


def bidirectional_scan_train(*args, out=None, **kwargs):
    """`bidirectional_scan_train_fn` with `ops.bidirectional_scan`'s signature; the mixer passes
    no `out` under autograd (x, which `out` would overwrite, is saved for the conv backward)."""
    from mamba_triton import bidirectional_scan_train_fn

    if out is not None:
        raise ValueError("the differentiable scan allocates its output; out= is for inference only")
    return bidirectional_scan_train_fn(*args, **kwargs)


def add_rmsnorm_train(hidden, residual, weight, eps=1e-5, out_dtype=None, *, residual_out=None):
    """`add_rmsnorm_autograd` with `ops.add_rmsnorm`'s signature: the residual comes back as a
    new tensor, never written in place (autograd saves the residual it was given)."""
    from mamba_triton import add_rmsnorm_autograd

    if residual_out is not None:
        raise ValueError("the differentiable add+RMSNorm returns a new residual; residual_out= is for inference only")
    return add_rmsnorm_autograd(hidden, residual, weight, eps, out_dtype)


def bidirectional_conv1d_train(x, weight, bias, weight_b, bias_b, out_dtype=None):
    """`bidirectional_conv1d_autograd` (the fused two-direction forward and its one-kernel
    backward) with `ops.bidirectional_conv1d`'s signature.  No flipped copy of x: x is read
    once a pass, the backward writes one dx (both directions summed), and autograd keeps x
    itself (a view of in_proj's output), the weights and the biases."""
    from mamba_triton import bidirectional_conv1d_autograd

    return bidirectional_conv1d_autograd(x, weight, bias, weight_b, bias_b, out_dtype)
