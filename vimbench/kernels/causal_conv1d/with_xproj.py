"""Both Vim conv directions (depthwise conv1d k=4 + bias + SiLU) with each direction's
x_proj applied in the same kernel: u_f, u_b and x_dbl_f = u_f @ W_f^T, x_dbl_b = u_b @ W_b^T.

Unfused, x_proj is a GEMM that reads u back from memory and produces only R + 2N (44 for
Vim-Ti) columns, a shape cuBLAS runs far from its peak (16.4 ms of 194 per Vim-Ti 1248 px
forward on an H200).  Here a program owns BLOCK_L tokens and walks all E channels in
blocks of BLOCK_E: each block's conv output is stored and, while still in registers,
multiplied into the [BLOCK_L, R + 2N] projection accumulators on the tensor cores.

Precision follows the unfused path: u is rounded to the output dtype, and the product is
taken of the rounded u and the weight rounded to that dtype (what autocast's F.linear
does), accumulated in fp32; fp32 activations use IEEE fp32 products, not TF32.
The reference is `reference.bidirectional_conv1d_xproj_ref`.
"""

from __future__ import annotations

import os

import torch
import triton
import triton.language as tl

from .fused import _conv_silu_tile, check_conv_inputs


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


@triton.jit
def _conv_xproj_kernel(
    p_x, p_w, p_bias, p_wb, p_bias_b, p_yf, p_yb,
    p_pw, p_pwb, p_pf, p_pb,
    L, E, P,
    s_xb, s_xl, s_xe,
    s_we, s_wk, s_wbe, s_wbk,
    s_yb, s_yl,
    s_pwo, s_pwe, s_pwbo, s_pwbe,
    s_pbb, s_pbl,
    HAS_BIAS: tl.constexpr, HAS_BIAS_B: tl.constexpr,
    BLOCK_L: tl.constexpr, BLOCK_E: tl.constexpr, BLOCK_P: tl.constexpr, IEEE: tl.constexpr,
    UPCAST: tl.constexpr,
):
    i_l = tl.program_id(0)
    i_b = tl.program_id(1).to(tl.int64)
    t = i_l * BLOCK_L + tl.arange(0, BLOCK_L)  # [BL]
    o = tl.arange(0, BLOCK_P)  # projection outputs [BP]
    m_t = t < L
    m_o = o < P
    p_xb = p_x + i_b * s_xb
    acc_f = tl.zeros([BLOCK_L, BLOCK_P], dtype=tl.float32)
    acc_b = tl.zeros([BLOCK_L, BLOCK_P], dtype=tl.float32)
    for e0 in range(0, E, BLOCK_E):
        e = e0 + tl.arange(0, BLOCK_E)
        m_e = e < E
        b_yf, b_yb = _conv_silu_tile(p_xb, t, e, m_e, L, p_w, p_bias, p_wb, p_bias_b,
                                     s_xl, s_xe, s_we, s_wk, s_wbe, s_wbk,
                                     HAS_BIAS, HAS_BIAS_B, BLOCK_L, BLOCK_E)
        # rows past L hold silu(bias): never stored, and rows do not mix in the product
        u_f = b_yf.to(p_yf.dtype.element_ty)
        u_b = b_yb.to(p_yb.dtype.element_ty)
        m_out = m_t[:, None] & m_e[None, :]
        offs = i_b * s_yb + t.to(tl.int64)[:, None] * s_yl + e[None, :]
        tl.store(p_yf + offs, u_f, mask=m_out)
        tl.store(p_yb + offs, u_b, mask=m_out)
        m_w = m_e[:, None] & m_o[None, :]
        w_f = tl.load(p_pw + e[:, None] * s_pwe + o[None, :] * s_pwo, mask=m_w, other=0.0)  # [BE, BP]
        w_b = tl.load(p_pwb + e[:, None] * s_pwbe + o[None, :] * s_pwbo, mask=m_w, other=0.0)
        w_f = w_f.to(p_yf.dtype.element_ty)
        w_b = w_b.to(p_yf.dtype.element_ty)
        if UPCAST:
            # the CPU interpreter's dot misreads 16-bit floats; fp32 copies of the rounded
            # values give the same exact products, accumulated in fp32 as on the GPU
            u_f, u_b = u_f.to(tl.float32), u_b.to(tl.float32)
            w_f, w_b = w_f.to(tl.float32), w_b.to(tl.float32)
        if IEEE or UPCAST:
            acc_f = tl.dot(u_f, w_f, acc_f, input_precision="ieee")
            acc_b = tl.dot(u_b, w_b, acc_b, input_precision="ieee")
        else:
            acc_f = tl.dot(u_f, w_f, acc_f)
            acc_b = tl.dot(u_b, w_b, acc_b)
    m_p = m_t[:, None] & m_o[None, :]
    offs_p = i_b * s_pbb + t.to(tl.int64)[:, None] * s_pbl + o[None, :]
    tl.store(p_pf + offs_p, acc_f.to(p_pf.dtype.element_ty), mask=m_p)
    tl.store(p_pb + offs_p, acc_b.to(p_pb.dtype.element_ty), mask=m_p)


def bidirectional_conv1d_xproj(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weight_b: torch.Tensor,
    bias_b: torch.Tensor | None,
    proj_weight: torch.Tensor,
    proj_weight_b: torch.Tensor,
    out_dtype: torch.dtype | None = None,
    *,
    block_l: int = 64,
    block_e: int = 64,
    num_warps: int = 4,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """`bidirectional_conv1d` plus each direction's x_proj.

    x, weight, bias, weight_b, bias_b: as `bidirectional_conv1d`.
    proj_weight, proj_weight_b: (P, E), nn.Linear layout (Vim: P = dt_rank + 2 * d_state).
    Returns (u_f, u_b, x_dbl_f, x_dbl_b): u (batch, L, E) and x_dbl (batch, L, P), contiguous,
    in `out_dtype` (default x's dtype).  float64 has no tensor-core product: it runs the
    conv kernel and F.linear instead (same values).
    """
    fn = "bidirectional_conv1d_xproj"
    weight, weight_b, out_dtype = check_conv_inputs(fn, x, weight, bias, weight_b, bias_b, out_dtype,
                                                    extra=(proj_weight, proj_weight_b),
                                                    block_l=block_l, block_e=block_e)
    batch, L, E = x.shape
    for name, w in (("proj_weight", proj_weight), ("proj_weight_b", proj_weight_b)):
        if w.dim() != 2 or w.shape[1] != E or w.shape[0] < 1:
            raise ValueError(f"{fn}: {name} must be (P, E={E}) (nn.Linear layout), got {tuple(w.shape)}")
    if proj_weight.shape != proj_weight_b.shape:
        raise ValueError(f"{fn}: proj_weight {tuple(proj_weight.shape)} and proj_weight_b "
                         f"{tuple(proj_weight_b.shape)} must have the same shape")
    if min(block_l, block_e) < 16:
        raise ValueError(f"{fn}: block_l and block_e must be >= 16 (tensor-core tiles), got {block_l}, {block_e}")
    P = proj_weight.shape[0]
    if out_dtype == torch.float64:  # no fp64 tensor-core product (reference-precision runs)
        from .fused import bidirectional_conv1d

        u_f, u_b = bidirectional_conv1d(x, weight, bias, weight_b, bias_b, out_dtype)
        return u_f, u_b, torch.nn.functional.linear(u_f, proj_weight.to(out_dtype)), \
            torch.nn.functional.linear(u_b, proj_weight_b.to(out_dtype))
    u_f = torch.empty((batch, L, E), device=x.device, dtype=out_dtype)
    u_b = torch.empty_like(u_f)
    x_dbl_f = torch.empty((batch, L, P), device=x.device, dtype=out_dtype)
    x_dbl_b = torch.empty_like(x_dbl_f)
    if u_f.numel() == 0:
        return u_f, u_b, x_dbl_f.zero_(), x_dbl_b.zero_()
    grid = (triton.cdiv(L, block_l), batch)
    _conv_xproj_kernel[grid](
        x, weight, bias if bias is not None else weight, weight_b,
        bias_b if bias_b is not None else weight_b, u_f, u_b,
        proj_weight, proj_weight_b, x_dbl_f, x_dbl_b,
        L, E, P,
        x.stride(0), x.stride(1), x.stride(2),
        weight.stride(0), weight.stride(1), weight_b.stride(0), weight_b.stride(1),
        u_f.stride(0), u_f.stride(1),
        proj_weight.stride(0), proj_weight.stride(1), proj_weight_b.stride(0), proj_weight_b.stride(1),
        x_dbl_f.stride(0), x_dbl_f.stride(1),
        HAS_BIAS=bias is not None, HAS_BIAS_B=bias_b is not None,
        BLOCK_L=block_l, BLOCK_E=block_e, BLOCK_P=max(16, triton.next_power_of_2(P)),
        IEEE=out_dtype == torch.float32, UPCAST=_interpreting() and out_dtype in (torch.float16, torch.bfloat16),
        num_warps=num_warps,
    )
    return u_f, u_b, x_dbl_f, x_dbl_b
