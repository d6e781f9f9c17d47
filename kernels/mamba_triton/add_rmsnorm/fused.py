"""Residual add + RMSNorm in one Triton kernel: one read of hidden and residual, one
write of out and residual (12 bytes an element with 16-bit hidden/out and fp32 residual).

Inference only (no backward): it refuses inputs that require grad with grad enabled.
The reference is `reference.add_rmsnorm_ref`.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..host_math import cdiv, next_power_of_2
from ..launch import launchable

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_MAX_BLOCK_D = 16384


@triton.jit
def _add_rmsnorm_kernel(
    p_x, p_res, p_w, p_out, p_res_out,
    n_rows, L, D, eps,
    s_xb, s_xl, s_xd,
    s_rb, s_rl, s_rd,
    s_ob, s_ol,
    s_qb, s_ql,
    HAS_RESIDUAL: tl.constexpr,
    STORE_RESIDUAL: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    i_m = tl.program_id(0)
    rows = i_m * BLOCK_M + tl.arange(0, BLOCK_M)
    cols = tl.arange(0, BLOCK_D)
    m_row = rows < n_rows
    m_col = cols < D
    mask = m_row[:, None] & m_col[None, :]
    # int64 batch offsets: batch * L * D overflows int32 for big models at 1248.
    i_b = (rows // L).to(tl.int64)
    i_l = (rows % L).to(tl.int64)

    # [BM, BD]
    b_x = tl.load(p_x + (i_b * s_xb + i_l * s_xl)[:, None] + cols[None, :] * s_xd,
                  mask=mask, other=0.0).to(tl.float32)
    if HAS_RESIDUAL:
        b_x += tl.load(p_res + (i_b * s_rb + i_l * s_rl)[:, None] + cols[None, :] * s_rd,
                       mask=mask, other=0.0).to(tl.float32)
    if STORE_RESIDUAL:
        tl.store(p_res_out + (i_b * s_qb + i_l * s_ql)[:, None] + cols[None, :],
                 b_x.to(p_res_out.dtype.element_ty), mask=mask)

    b_rstd = 1.0 / tl.sqrt(tl.sum(b_x * b_x, axis=1) / D + eps)  # [BM]
    b_w = tl.load(p_w + cols, mask=m_col, other=0.0).to(tl.float32)  # [BD]
    b_out = b_x * b_rstd[:, None] * b_w[None, :]
    tl.store(p_out + (i_b * s_ob + i_l * s_ol)[:, None] + cols[None, :],
             b_out.to(p_out.dtype.element_ty), mask=mask)


def _default_block_m(block_d: int) -> int:
    # ~4k elements a program: enough rows to hide latency, few enough registers.
    return max(1, min(64, 4096 // block_d))


def add_rmsnorm(
    hidden: torch.Tensor,
    residual: torch.Tensor | None,
    weight: torch.Tensor,
    eps: float = 1e-5,
    out_dtype: torch.dtype | None = None,
    *,
    residual_out: torch.Tensor | None = None,
    block_m: int | None = None,
    num_warps: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fused `residual = residual + hidden; out = rmsnorm(residual) * weight`.

    hidden: (batch, L, D), any float dtype, any strides.
    residual: (batch, L, D) fp32 (fp64 allowed), any strides, or None for the first block
        (then residual = hidden in fp32).
    weight: (D,).
    Returns (out (batch, L, D) contiguous in `out_dtype`, default hidden's dtype;
             residual (batch, L, D) fp32 (fp64 if residual or hidden is fp64): a new
             contiguous tensor, except for residual=None with hidden already in that dtype,
             where it is hidden itself - no copy of the first block's token map).
    residual_out: where to write the new residual instead of a new tensor, e.g. `residual`
        itself (in place: every element is read before it is written, by the same program),
        so a model's residual stream needs one buffer, not two at each block.  Shape and
        dtype of the residual, stride 1 over D.
    `block_m` / `num_warps` override the launch shape (for tuning).
    """
    if hidden.dim() != 3:
        raise ValueError(f"add_rmsnorm: hidden must be (batch, L, D), got shape {tuple(hidden.shape)}")
    batch, L, D = hidden.shape
    if hidden.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"add_rmsnorm: hidden dtype {hidden.dtype} not in {_FLOAT_DTYPES}")
    if weight.shape != (D,):
        raise ValueError(f"add_rmsnorm: weight must have shape ({D},), got {tuple(weight.shape)}")
    if residual is not None:
        if residual.shape != hidden.shape:
            raise ValueError(f"add_rmsnorm: residual shape {tuple(residual.shape)} != hidden shape {tuple(hidden.shape)}")
        if residual.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"add_rmsnorm: residual must be float32 (or float64), got {residual.dtype}")
    tensors = [hidden, weight] + ([residual] if residual is not None else [])
    if len({t.device for t in tensors}) != 1:
        raise ValueError(f"add_rmsnorm: hidden, residual and weight must share a device, got {[str(t.device) for t in tensors]}")
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        raise NotImplementedError("add_rmsnorm (Triton) is inference-only; call it under torch.no_grad() "
                                  "or use add_rmsnorm_ref for training")
    out_dtype = out_dtype or hidden.dtype
    if out_dtype not in _FLOAT_DTYPES:
        raise ValueError(f"add_rmsnorm: out_dtype {out_dtype} not in {_FLOAT_DTYPES}")
    block_d = next_power_of_2(D)
    if block_d > _MAX_BLOCK_D:
        raise ValueError(f"add_rmsnorm: D={D} is larger than the supported {_MAX_BLOCK_D}")

    wide = torch.float64 in (hidden.dtype, getattr(residual, "dtype", None))
    res_dtype = torch.float64 if wide else torch.float32
    out = torch.empty((batch, L, D), device=hidden.device, dtype=out_dtype)
    store_residual = residual is not None or hidden.dtype != res_dtype
    if residual_out is not None:
        if residual_out.shape != hidden.shape or residual_out.dtype != res_dtype or (D > 1 and residual_out.stride(2) != 1):
            raise ValueError(f"add_rmsnorm: residual_out must be a {res_dtype} tensor of shape {tuple(hidden.shape)} "
                             f"with stride 1 over D, got {residual_out.dtype} {tuple(residual_out.shape)} "
                             f"strides {residual_out.stride()}")
        if residual_out.device != hidden.device:
            raise ValueError(f"add_rmsnorm: residual_out is on {residual_out.device}, hidden on {hidden.device}")
        res_out, store_residual = residual_out, True
    elif store_residual:
        res_out = torch.empty((batch, L, D), device=hidden.device, dtype=res_dtype)
    else:
        res_out = hidden
    n_rows = batch * L
    if n_rows == 0 or D == 0:
        return out, res_out
    block_m = block_m or _default_block_m(block_d)
    res_arg = residual if residual is not None else hidden  # never read without HAS_RESIDUAL
    grid = (cdiv(n_rows, block_m),)
    launchable(_add_rmsnorm_kernel, hidden)[grid](
        hidden, res_arg, weight, out, res_out,
        n_rows, L, D, eps,
        hidden.stride(0), hidden.stride(1), hidden.stride(2),
        res_arg.stride(0), res_arg.stride(1), res_arg.stride(2),
        out.stride(0), out.stride(1),
        res_out.stride(0), res_out.stride(1),
        HAS_RESIDUAL=residual is not None,
        STORE_RESIDUAL=store_residual,
        BLOCK_M=block_m, BLOCK_D=block_d,
        num_warps=num_warps,
    )
    return out, res_out
