"""Residual add + RMSNorm, the pure-PyTorch reference (float64-capable).

What every Vim block starts with (official `Block` with `residual_in_fp32=True`):

    residual = hidden                      if residual is None   (first block)
             = residual + hidden           otherwise             (kept in fp32)
    out      = residual * rsqrt(mean(residual^2 over D) + eps) * weight

Shapes: hidden (batch, L, D) any float dtype and strides; residual (batch, L, D) fp32
(or fp64 for reference runs) or None; weight (D,).
Returns (out in `out_dtype` (default hidden's dtype), residual in fp32 or the compute dtype).

Memory traffic of this reference, per element: ~5 passes (add, square, mean, scale,
weight) that each read and write the whole tensor - the fused kernel does one.
"""

from __future__ import annotations

import torch


def add_rmsnorm_ref(
    hidden: torch.Tensor,
    residual: torch.Tensor | None,
    weight: torch.Tensor,
    eps: float = 1e-5,
    out_dtype: torch.dtype | None = None,
    compute_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Reference add + RMSNorm; arithmetic in `compute_dtype` (float64 if hidden is
    float64, else float32). The returned residual is in the compute dtype."""
    if compute_dtype is None:
        compute_dtype = torch.float64 if hidden.dtype == torch.float64 else torch.float32
    out_dtype = out_dtype or hidden.dtype
    res = hidden.to(compute_dtype)
    if residual is not None:
        res = residual.to(compute_dtype) + res
    rstd = torch.rsqrt(res.pow(2).mean(dim=-1, keepdim=True) + eps)
    out = res * rstd * weight.to(compute_dtype)
    return out.to(out_dtype), res


def add_rmsnorm_bwd_ref(
    dout: torch.Tensor,
    dres_out: torch.Tensor | None,
    hidden: torch.Tensor,
    residual: torch.Tensor | None,
    weight: torch.Tensor,
    eps: float = 1e-5,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Reference gradients (dhidden, dresidual or None, dweight) of `add_rmsnorm_ref` given
    the gradients of its two outputs (dres_out may be None): torch.autograd through the
    reference, in float64 whatever the input dtypes."""
    leaves = [t.detach().double().requires_grad_() for t in (hidden, weight)]
    res_in = None if residual is None else residual.detach().double().requires_grad_()
    with torch.enable_grad():
        out, res = add_rmsnorm_ref(leaves[0], res_in, leaves[1], eps)
        outputs, grads = [out], [dout.double()]
        if dres_out is not None:
            outputs.append(res)
            grads.append(dres_out.double())
        inputs = leaves + ([res_in] if res_in is not None else [])
        g = torch.autograd.grad(outputs, inputs, grads)
    return g[0], (g[2] if res_in is not None else None), g[1]
