"""Differentiable fused add + RMSNorm: the forward Triton kernel (`fused.add_rmsnorm`)
with the backward Triton kernel (`backward.add_rmsnorm_bwd`) as a torch.autograd.Function.

Saved for backward: the returned fp32 residual and weight (see `backward.py`).
"""

from __future__ import annotations

import torch

from .backward import add_rmsnorm_bwd
from .fused import add_rmsnorm


class AddRMSNormFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, residual, weight, eps, out_dtype):
        # grad mode is off inside forward, so the inference kernel accepts these inputs
        out, res = add_rmsnorm(hidden, residual, weight, eps, out_dtype)
        ctx.save_for_backward(res, weight)
        ctx.eps = eps
        ctx.hidden_dtype = hidden.dtype
        ctx.residual_dtype = None if residual is None else residual.dtype
        # an unused output gets None, not a zero tensor the size of the activations
        ctx.set_materialize_grads(False)
        return out, res

    @staticmethod
    def backward(ctx, dout, dres_out):
        res, weight = ctx.saved_tensors
        if dout is None:
            dout = torch.zeros_like(res)
        need = ctx.needs_input_grad
        # no second copy of the gradient for a residual that does not want one
        res_dtype = ctx.residual_dtype if need[1] else None
        dx, dres, dw = add_rmsnorm_bwd(dout, dres_out, res, weight, ctx.eps, ctx.hidden_dtype, res_dtype)
        return (dx if need[0] else None, dres if need[1] else None, dw if need[2] else None, None, None)


def add_rmsnorm_autograd(
    hidden: torch.Tensor,
    residual: torch.Tensor | None,
    weight: torch.Tensor,
    eps: float = 1e-5,
    out_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """`add_rmsnorm` (same arguments and results, without `residual_out`: an in-place
    residual would overwrite a tensor autograd needs) that is differentiable in hidden,
    residual and weight, through both outputs (out and the returned fp32 residual)."""
    return AddRMSNormFunction.apply(hidden, residual, weight, eps, out_dtype)
