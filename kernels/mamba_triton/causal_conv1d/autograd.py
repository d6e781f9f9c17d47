"""Differentiable causal_conv1d_fn: the forward Triton kernel (`fused.causal_conv1d_fn`)
with the backward Triton kernel (`backward.causal_conv1d_bwd`) as a torch.autograd.Function.

Saved for backward: x, weight and bias themselves, no new allocation (see `backward.py`).
"""

from __future__ import annotations

import torch

from .backward import causal_conv1d_bwd
from .fused import causal_conv1d_fn


class CausalConv1dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, activation):
        # grad mode is off inside forward, so the inference kernel accepts these inputs
        out = causal_conv1d_fn(x, weight, bias, activation)
        ctx.save_for_backward(x, weight, bias)
        ctx.activation = activation
        return out

    @staticmethod
    def backward(ctx, dout):
        x, weight, bias = ctx.saved_tensors
        dx, dweight, dbias = causal_conv1d_bwd(x, weight, bias, dout, ctx.activation)
        need = ctx.needs_input_grad
        return (dx if need[0] else None, dweight if need[1] else None,
                dbias if need[2] else None, None)


def causal_conv1d_autograd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """`causal_conv1d_fn` (same arguments and result) that is differentiable in x, weight
    and bias."""
    return CausalConv1dFunction.apply(x, weight, bias, activation)
