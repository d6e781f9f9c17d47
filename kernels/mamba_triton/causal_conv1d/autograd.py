"""Differentiable causal_conv1d_fn and bidirectional_conv1d: the forward Triton kernels
(`fused.py`) with the backward Triton kernel (`backward.py`) as torch.autograd.Functions.

Saved for backward: x, the weights and the biases themselves, no new allocation (see
`backward.py`).
"""

from __future__ import annotations

import torch

from .backward import bidirectional_conv1d_bwd, causal_conv1d_bwd
from .fused import bidirectional_conv1d, causal_conv1d_fn


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


class BidirectionalConv1dFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight, bias, weight_b, bias_b, out_dtype):
        out_f, out_b = bidirectional_conv1d(x, weight, bias, weight_b, bias_b, out_dtype)
        ctx.save_for_backward(x, weight, bias, weight_b, bias_b)
        return out_f, out_b

    @staticmethod
    def backward(ctx, dout_f, dout_b):
        # an unused output's gradient comes as zeros (materialize_grads), so both are tensors
        grads = bidirectional_conv1d_bwd(*ctx.saved_tensors, dout_f, dout_b)
        return (*(g if need else None for g, need in zip(grads, ctx.needs_input_grad)), None)


def bidirectional_conv1d_autograd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weight_b: torch.Tensor,
    bias_b: torch.Tensor | None,
    out_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`bidirectional_conv1d` (same arguments and results, default launch shape) that is
    differentiable in x, both weights and both biases; one backward kernel gives all five
    gradients, dx summed over both directions."""
    return BidirectionalConv1dFunction.apply(x, weight, bias, weight_b, bias_b, out_dtype)
