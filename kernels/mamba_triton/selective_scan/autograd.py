"""Differentiable selective scans: `selective_scan_train_fn` and `bidirectional_scan_train_fn`,
torch.autograd Functions over the Triton forward (fused.py) and backward (backward.py).

Same arguments and semantics as `selective_scan_fn` / `bidirectional_scan_fn`, but inputs
may require grad.  Only the inputs are saved for backward (bytes: backward.py's docstring);
the backward recomputes the states.  The inference functions keep refusing inputs that
require grad, so a model that never trains pays nothing for this.

- The bidirectional op's backward is the sum of two one-direction backwards:
  out = (y_f + y_b) / 2 * silu(z) = y_f silu(z) / 2 + y_b silu(z) / 2, so each direction
  is a gated scan with the incoming gradient scaled by 1/2 (forward order, then
  reverse=True), and dz is the sum of the two directions' dz.
- With `delta_proj_weight` W (delta = W @ dt_low, formed inside the forward kernel), the
  backward forms delta in fp32 as a transient (batch, dim, L) tensor and chains
  ddt_low = W^T ddelta, dW = sum_b ddelta dt_low^T with torch.
- float64 inputs (gradcheck) run the forward through reference.py, which the fp32/16-bit
  forward kernels do not accept; the backward kernels run in float64 then.
"""

from __future__ import annotations

import torch

from .backward import selective_scan_bwd
from .fused import bidirectional_scan_fn, selective_scan_fn
from .reference import bidirectional_scan_ref, selective_scan_ref


def _full_delta(delta, W):
    """delta itself, or W @ dt_low in the compute dtype (fp32, fp64 for fp64 inputs)."""
    if W is None:
        return delta
    acc = torch.float64 if delta.dtype == torch.float64 else torch.float32
    # (batch, L, dim) memory seen as (batch, dim, L): the backward reads a step's channels
    # as one contiguous row (an einsum may leave L innermost: a 4-byte read per channel)
    return torch.matmul(delta.to(acc).transpose(1, 2), W.to(acc).t()).transpose(1, 2)


def _low_rank_grads(ddelta_full, dt_low, W):
    """(d dt_low, dW) from the gradient of the full delta."""
    if W is None:
        return ddelta_full, None
    d_low = torch.einsum("dr,bdl->brl", W.to(ddelta_full.dtype), ddelta_full).to(dt_low.dtype)
    dW = torch.einsum("bdl,brl->dr", ddelta_full, dt_low.to(ddelta_full.dtype)).to(W.dtype)
    return d_low, dW


class _SelectiveScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, W):
        kw = dict(D=D, z=z, delta_bias=delta_bias, delta_softplus=delta_softplus, reverse=reverse,
                  delta_proj_weight=W)
        out = (selective_scan_ref if u.dtype == torch.float64 else selective_scan_fn)(u, delta, A, B, C, **kw)
        ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, W)
        ctx.flags = (bool(delta_softplus), bool(reverse))
        return out

    @staticmethod
    def backward(ctx, dout):
        u, delta, A, B, C, D, z, delta_bias, W = ctx.saved_tensors
        softplus, reverse = ctx.flags
        du, ddelta, dA, dB, dC, dD, dz, dbias = selective_scan_bwd(
            dout, u, _full_delta(delta, W), A, B, C, D, z, delta_bias, softplus, reverse)
        ddelta, dW = _low_rank_grads(ddelta, delta, W)
        return du, ddelta, dA, dB, dC, dD, dz, dbias, None, None, dW


class _BidirectionalScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z,
                delta_softplus, W, W_b):
        fn = bidirectional_scan_ref if u.dtype == torch.float64 else bidirectional_scan_fn
        out = fn(u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z,
                 delta_softplus, delta_proj_weight=W, delta_proj_weight_b=W_b)
        ctx.save_for_backward(u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b,
                              z, W, W_b)
        ctx.softplus = bool(delta_softplus)
        return out

    @staticmethod
    def backward(ctx, dout):
        u, delta, A, B, C, D, bias, u_b, delta_b, A_b, B_b, C_b, D_b, bias_b, z, W, W_b = ctx.saved_tensors
        grads = []
        dz = None
        for reverse, (uu, dd, AA, BB, CC, DD, bb, WW) in enumerate(
                ((u, delta, A, B, C, D, bias, W), (u_b, delta_b, A_b, B_b, C_b, D_b, bias_b, W_b))):
            du, ddelta, dA, dB, dC, dD, dz_dir, dbias = selective_scan_bwd(
                dout, uu, _full_delta(dd, WW), AA, BB, CC, DD, z, bb, ctx.softplus, bool(reverse), scale=0.5)
            ddelta, dW = _low_rank_grads(ddelta, dd, WW)
            grads.append((du, ddelta, dA, dB, dC, dD, dbias, dW))
            dz = dz_dir if dz is None else (dz.float() + dz_dir.float()).to(z.dtype)
        (du, ddelta, dA, dB, dC, dD, dbias, dW), (du_b, ddelta_b, dA_b, dB_b, dC_b, dD_b, dbias_b, dW_b) = grads
        return (du, ddelta, dA, dB, dC, dD, dbias, du_b, ddelta_b, dA_b, dB_b, dC_b, dD_b, dbias_b, dz,
                None, dW, dW_b)


def selective_scan_train_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                            return_last_state=False, reverse=False, *, delta_proj_weight=None):
    """`selective_scan_fn` with a Triton backward (gradients for every tensor argument,
    delta_proj_weight included).  `return_last_state` is not supported here."""
    if return_last_state:
        raise ValueError("selective_scan_train_fn has no return_last_state (the last state is not differentiated); "
                         "use selective_scan_fn for inference")
    return _SelectiveScan.apply(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse, delta_proj_weight)


def bidirectional_scan_train_fn(u, delta, A, B, C, D, delta_bias,
                                u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b,
                                z, delta_softplus=True, *, delta_proj_weight=None, delta_proj_weight_b=None):
    """`bidirectional_scan_fn` with a Triton backward (the sum of the two directions'
    backwards, module docstring).  No `out=` buffer: autograd needs a fresh output."""
    return _BidirectionalScan.apply(u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b,
                                    delta_bias_b, z, delta_softplus, delta_proj_weight, delta_proj_weight_b)
