"""Backward of the fused residual add + RMSNorm (`fused.add_rmsnorm`), one Triton kernel.

Forward (per row of D):  r = residual + hidden (fp32; r = hidden for the first block),
out = r * rstd * w with rstd = 1 / sqrt(mean(r^2) + eps); it returns (out, r).
With g = dout * w and x_hat = r * rstd, the gradients are

    dr       = rstd * (g - x_hat * mean(g * x_hat)) + dr_out      (dr_out: grad of the returned r)
    dhidden  = dr (in hidden's dtype);  dresidual = dr (in residual's dtype)
    dweight  = sum over rows of dout * x_hat

Saved for backward, per call: the returned residual r, batch*L*D * 4 bytes (fp32; 8 with
fp64 inputs), and weight, D elements.  No new allocation: r is the forward's own output (for
a first block with fp32 hidden, hidden itself), but autograd keeps it alive until the
backward.  rstd is not saved: the kernel loads the whole row of r anyway and recomputes it
with one extra reduction, which saves 4 bytes a row (what mamba_ssm's layer_norm keeps on
top of r) and leaves the forward kernel untouched.  No x_hat, no out.  Autograd through
the fp32 reference keeps about 8 bytes an element.

Each program walks row blocks pid, pid + G, ... and keeps its share of dweight in
registers, so the fp32 scratch for dweight is G x D, not rows x D; torch sums the G rows.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..host_math import cdiv, next_power_of_2
from .fused import _MAX_BLOCK_D


def _default_block_m(block_d: int) -> int:
    # ~2k elements a program, half the forward's: the backward keeps ~5 row tiles live
    # (r, dout, x_hat, g, dr).  Compiled for sm_90 at D=192 (bf16, 4 warps): 128 registers,
    # no spills; 4k elements took 168.  Not timed on a GPU yet.
    return max(1, min(64, 2048 // block_d))


@triton.jit
def _add_rmsnorm_bwd_kernel(
    p_r, p_w, p_dout, p_dres_out, p_dx, p_dres, p_dw_part,
    n_rows, L, D, eps, n_progs,
    s_rb, s_rl, s_rd,
    s_gb, s_gl, s_gd,
    s_hb, s_hl, s_hd,
    HAS_DRES_OUT: tl.constexpr,
    STORE_DRES: tl.constexpr,  # a second gradient copy in residual's dtype
    ACC: tl.constexpr,  # tl.float32, or tl.float64 for float64 inputs
    BLOCK_M: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    pid = tl.program_id(0)
    cols = tl.arange(0, BLOCK_D)
    m_col = cols < D
    b_w = tl.load(p_w + cols, mask=m_col, other=0.0).to(ACC)
    b_dw = tl.zeros([BLOCK_D], dtype=ACC)
    n_blocks = tl.cdiv(n_rows, BLOCK_M)
    for i_m in range(pid, n_blocks, n_progs):
        rows = i_m * BLOCK_M + tl.arange(0, BLOCK_M)
        mask = (rows < n_rows)[:, None] & m_col[None, :]
        i_b = (rows // L).to(tl.int64)
        i_l = (rows % L).to(tl.int64)
        b_r = tl.load(p_r + (i_b * s_rb + i_l * s_rl)[:, None] + cols[None, :] * s_rd,
                      mask=mask, other=0.0).to(ACC)
        b_dout = tl.load(p_dout + (i_b * s_gb + i_l * s_gl)[:, None] + cols[None, :] * s_gd,
                         mask=mask, other=0.0).to(ACC)
        # same expression as the forward, so rstd is bit-identical in fp32
        b_rstd = 1.0 / tl.sqrt(tl.sum(b_r * b_r, axis=1) / D + eps)
        b_xhat = b_r * b_rstd[:, None]
        b_g = b_dout * b_w[None, :]
        b_c = tl.sum(b_g * b_xhat, axis=1) / D
        b_dr = (b_g - b_xhat * b_c[:, None]) * b_rstd[:, None]
        if HAS_DRES_OUT:
            b_dr += tl.load(p_dres_out + (i_b * s_hb + i_l * s_hl)[:, None] + cols[None, :] * s_hd,
                            mask=mask, other=0.0).to(ACC)
        offs = (i_b * L + i_l)[:, None] * D + cols[None, :]  # dx / dres are contiguous
        tl.store(p_dx + offs, b_dr.to(p_dx.dtype.element_ty), mask=mask)
        if STORE_DRES:
            tl.store(p_dres + offs, b_dr.to(p_dres.dtype.element_ty), mask=mask)
        b_dw += tl.sum(b_dout * b_xhat, axis=0)  # masked rows load 0 -> add 0
    tl.store(p_dw_part + pid * D + cols, b_dw, mask=m_col)


def _n_programs(n_blocks: int, device: torch.device) -> int:
    if device.type == "cuda":
        # a few waves of programs: enough to fill the card, few dweight partials
        return min(n_blocks, 4 * torch.cuda.get_device_properties(device).multi_processor_count)
    return min(n_blocks, 4)  # the interpreter runs programs one by one


def add_rmsnorm_bwd(
    dout: torch.Tensor,
    dres_out: torch.Tensor | None,
    residual_out: torch.Tensor,
    weight: torch.Tensor,
    eps: float,
    hidden_dtype: torch.dtype,
    residual_dtype: torch.dtype | None,
    *,
    block_m: int | None = None,
    num_warps: int = 4,
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
    """Gradients of `add_rmsnorm` from the saved residual r = residual_out.

    dout: (batch, L, D) grad of out, any strides; dres_out: grad of the returned residual or
    None; residual_out: the forward's residual r, any strides; weight: (D,).
    Returns (dhidden in hidden_dtype, dresidual in residual_dtype or None when the forward
    had no residual, dweight in weight's dtype).  Computes in fp64 when r is fp64, else fp32.
    dresidual is the same tensor as dhidden when the two dtypes agree (one write, as
    mamba_ssm does).
    """
    batch, L, D = residual_out.shape
    if dout.shape != residual_out.shape or (dres_out is not None and dres_out.shape != residual_out.shape):
        raise ValueError(f"add_rmsnorm_bwd: gradient shapes {tuple(dout.shape)} / "
                         f"{None if dres_out is None else tuple(dres_out.shape)} != {tuple(residual_out.shape)}")
    block_d = next_power_of_2(D)
    if block_d > _MAX_BLOCK_D:
        raise ValueError(f"add_rmsnorm_bwd: D={D} is larger than the supported {_MAX_BLOCK_D}")
    acc_dtype = torch.float64 if torch.float64 in (residual_out.dtype, dout.dtype) else torch.float32
    dx = torch.empty((batch, L, D), device=dout.device, dtype=hidden_dtype)
    store_dres = residual_dtype is not None and residual_dtype != hidden_dtype
    dres = torch.empty((batch, L, D), device=dout.device, dtype=residual_dtype) if store_dres else None
    n_rows = batch * L
    block_m = block_m or _default_block_m(block_d)
    n_progs = max(1, _n_programs(cdiv(n_rows, block_m), dout.device))
    dw_part = torch.zeros((n_progs, D), device=dout.device, dtype=acc_dtype)
    if n_rows > 0 and D > 0:
        dro = dres_out if dres_out is not None else dout  # never read without HAS_DRES_OUT
        _add_rmsnorm_bwd_kernel[(n_progs,)](
            residual_out, weight, dout, dro, dx, dres if store_dres else dx, dw_part,
            n_rows, L, D, eps, n_progs,
            residual_out.stride(0), residual_out.stride(1), residual_out.stride(2),
            dout.stride(0), dout.stride(1), dout.stride(2),
            dro.stride(0), dro.stride(1), dro.stride(2),
            HAS_DRES_OUT=dres_out is not None,
            STORE_DRES=store_dres,
            ACC=tl.float64 if acc_dtype == torch.float64 else tl.float32,
            BLOCK_M=block_m, BLOCK_D=block_d,
            num_warps=num_warps,
        )
    dw = dw_part.sum(0).to(weight.dtype)
    if residual_dtype is None:
        return dx, None, dw
    return dx, (dres if store_dres else dx), dw
