"""Backward of causal_conv1d_fn (depthwise causal conv1d + bias, optional SiLU), one Triton
kernel.

Forward, per channel (taps zero-padded on the left to 4, as the forward kernel does):
    z[t] = bias + sum_k w[k] x[t - 3 + k],   y[t] = silu(z[t]) or z[t]
Backward, with g[t] = dy[t] * silu'(z[t]) (or dy[t] without activation), zero for t >= L:
    dx[t]  = sum_k w[k] g[t + 3 - k]           (the taps look ahead)
    dw[k]  = sum_t g[t] x[t - 3 + k]           dbias = sum_t g[t]

Saved for backward, per call: x, weight and bias themselves - no new allocation, but x
(batch*dim*L * x.element_size() bytes) stays alive until the backward; in Vim x is a view
of in_proj's output.  Neither z nor y is kept: with SiLU the kernel recomputes z at t..t+3
from the 7 shifted x tiles it loads for dweight anyway (16 FMAs and 4 exps an element,
cheaper than storing and re-reading 2-4 bytes an element).  Autograd through the fp32
reference keeps about 8 bytes an element (an fp32 copy of x and the pre-activation).

Each program owns BLOCK_E channels of one sequence and walks TILES tiles of BLOCK_L tokens,
keeping its dweight / dbias partial sums in registers; the fp32 scratch is
(batch * chunks, 5, dim) and torch sums it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

KERNEL_WIDTH = 4


@triton.jit
def _load_shift(p_xb, t, s: tl.constexpr, e, m_e, L, s_xl, s_xe, ACC: tl.constexpr):
    """x[t + s] for a [BL, BE] tile, 0 outside 0..L-1."""
    tt = t + s
    m = ((tt >= 0) & (tt < L))[:, None] & m_e[None, :]
    return tl.load(p_xb + tt.to(tl.int64)[:, None] * s_xl + e[None, :] * s_xe, mask=m, other=0.0).to(ACC)


@triton.jit
def _dz(p_dyb, t, s: tl.constexpr, e, m_e, L, s_yl, s_ye, z, SILU: tl.constexpr, ACC: tl.constexpr):
    """g[t + s] = dy[t + s] * act'(z[t + s]) (z given), 0 for t + s >= L."""
    b_dy = _load_shift(p_dyb, t, s, e, m_e, L, s_yl, s_ye, ACC)
    if SILU:
        sig = 1.0 / (1.0 + tl.exp(-z))
        b_dy = b_dy * (sig * (1.0 + z * (1.0 - sig)))
    return b_dy


@triton.jit
def _causal_conv1d_bwd_kernel(
    p_x, p_w, p_bias, p_dy, p_dx, p_dwb_part,
    L, E, tiles,
    s_xb, s_xl, s_xe,
    s_we, s_wk,
    s_yb, s_yl, s_ye,
    s_db, s_dl, s_de,
    HAS_BIAS: tl.constexpr,
    SILU: tl.constexpr,
    ACC: tl.constexpr,  # tl.float32, or tl.float64 for float64 inputs
    BLOCK_L: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    i_c = tl.program_id(0)
    i_e = tl.program_id(1)
    i_b = tl.program_id(2).to(tl.int64)
    e = i_e * BLOCK_E + tl.arange(0, BLOCK_E)
    m_e = e < E
    p_xb = p_x + i_b * s_xb
    p_dyb = p_dy + i_b * s_yb
    w0 = tl.load(p_w + e * s_we + 0 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    w1 = tl.load(p_w + e * s_we + 1 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    w2 = tl.load(p_w + e * s_we + 2 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    w3 = tl.load(p_w + e * s_we + 3 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    if HAS_BIAS:
        b0 = tl.load(p_bias + e, mask=m_e, other=0.0).to(ACC)[None, :]
    else:
        b0 = tl.zeros([1, BLOCK_E], dtype=ACC)
    dw0 = tl.zeros([BLOCK_E], dtype=ACC)
    dw1 = tl.zeros([BLOCK_E], dtype=ACC)
    dw2 = tl.zeros([BLOCK_E], dtype=ACC)
    dw3 = tl.zeros([BLOCK_E], dtype=ACC)
    db = tl.zeros([BLOCK_E], dtype=ACC)
    for i in range(0, tiles):
        t = (i_c * tiles + i) * BLOCK_L + tl.arange(0, BLOCK_L)
        xm3 = _load_shift(p_xb, t, -3, e, m_e, L, s_xl, s_xe, ACC)
        xm2 = _load_shift(p_xb, t, -2, e, m_e, L, s_xl, s_xe, ACC)
        xm1 = _load_shift(p_xb, t, -1, e, m_e, L, s_xl, s_xe, ACC)
        x0 = _load_shift(p_xb, t, 0, e, m_e, L, s_xl, s_xe, ACC)
        if SILU:
            # pre-activations z[t + s], s = 0..3, recomputed from x[t - 3 .. t + 3]
            xp1 = _load_shift(p_xb, t, 1, e, m_e, L, s_xl, s_xe, ACC)
            xp2 = _load_shift(p_xb, t, 2, e, m_e, L, s_xl, s_xe, ACC)
            xp3 = _load_shift(p_xb, t, 3, e, m_e, L, s_xl, s_xe, ACC)
            z0 = b0 + w0 * xm3 + w1 * xm2 + w2 * xm1 + w3 * x0
            z1 = b0 + w0 * xm2 + w1 * xm1 + w2 * x0 + w3 * xp1
            z2 = b0 + w0 * xm1 + w1 * x0 + w2 * xp1 + w3 * xp2
            z3 = b0 + w0 * x0 + w1 * xp1 + w2 * xp2 + w3 * xp3
        else:
            z0 = xm3  # unused without SILU
            z1 = xm3
            z2 = xm3
            z3 = xm3
        g0 = _dz(p_dyb, t, 0, e, m_e, L, s_yl, s_ye, z0, SILU, ACC)
        g1 = _dz(p_dyb, t, 1, e, m_e, L, s_yl, s_ye, z1, SILU, ACC)
        g2 = _dz(p_dyb, t, 2, e, m_e, L, s_yl, s_ye, z2, SILU, ACC)
        g3 = _dz(p_dyb, t, 3, e, m_e, L, s_yl, s_ye, z3, SILU, ACC)
        b_dx = w3 * g0 + w2 * g1 + w1 * g2 + w0 * g3
        m_out = (t < L)[:, None] & m_e[None, :]
        tl.store(p_dx + i_b * s_db + t.to(tl.int64)[:, None] * s_dl + e[None, :] * s_de,
                 b_dx.to(p_dx.dtype.element_ty), mask=m_out)
        # g0 is 0 for t >= L (masked load), so padded rows add nothing
        dw0 += tl.sum(g0 * xm3, axis=0)
        dw1 += tl.sum(g0 * xm2, axis=0)
        dw2 += tl.sum(g0 * xm1, axis=0)
        dw3 += tl.sum(g0 * x0, axis=0)
        db += tl.sum(g0, axis=0)
    # scratch row (i_b, i_c): [dw0, dw1, dw2, dw3, dbias] x E
    p_part = p_dwb_part + (i_b * tl.num_programs(0) + i_c) * 5 * E + e
    tl.store(p_part + 0 * E, dw0, mask=m_e)
    tl.store(p_part + 1 * E, dw1, mask=m_e)
    tl.store(p_part + 2 * E, dw2, mask=m_e)
    tl.store(p_part + 3 * E, dw3, mask=m_e)
    tl.store(p_part + 4 * E, db, mask=m_e)


def _n_chunks(n_tiles: int, other_programs: int, device: torch.device) -> int:
    """How many programs share one sequence: enough for ~4 waves on the card, each
    owning as many tiles as possible so the dweight scratch stays small."""
    if device.type == "cuda":
        target = 4 * torch.cuda.get_device_properties(device).multi_processor_count
        return max(1, min(n_tiles, triton.cdiv(target, other_programs)))
    return min(n_tiles, 2)  # the interpreter: still exercise the partial sums


def causal_conv1d_bwd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dout: torch.Tensor,
    activation: str | None,
    *,
    block_l: int | None = None,
    block_e: int | None = None,
    num_warps: int = 4,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Gradients of `causal_conv1d_fn(x, weight, bias, activation)` given dout.

    x, dout: (batch, dim, L), any strides; weight: (dim, width), width 2..4; bias (dim,) or
    None.  Returns (dx laid out like x in x's dtype, dweight (dim, width) in weight's
    dtype, dbias (dim,) in bias's dtype or None).  Computes in fp64 for fp64 x, else fp32.
    """
    batch, dim, L = x.shape
    width = weight.shape[1]
    if dout.shape != x.shape:
        raise ValueError(f"causal_conv1d_bwd: dout shape {tuple(dout.shape)} != x shape {tuple(x.shape)}")
    if not 2 <= width <= KERNEL_WIDTH:
        raise ValueError(f"causal_conv1d_bwd: width must be 2..{KERNEL_WIDTH}, got {width}")
    acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    taps = torch.nn.functional.pad(weight, (KERNEL_WIDTH - width, 0))  # zero taps in front
    channels_last = x.stride(1) < x.stride(2)
    if channels_last:
        dx = torch.empty((batch, L, dim), device=x.device, dtype=x.dtype).transpose(1, 2)
    else:
        dx = torch.empty((batch, dim, L), device=x.device, dtype=x.dtype)
    # tiles long along the dense dimension, as in the forward, but of 512 elements, not 2048:
    # with SiLU ~15 tiles are live (7 x shifts, 4 z, 4 g).  Compiled for sm_90 (bf16, SiLU,
    # 4 warps): 117 / 128 registers and no spills; the forward's tiles took 255 (and spilled
    # channel-major).  Not timed on a GPU yet.
    bl, be = (8, 64) if channels_last else (32, 16)
    block_l, block_e = block_l or bl, block_e or be
    n_tiles, e_blocks = triton.cdiv(L, block_l), triton.cdiv(dim, block_e)
    chunks = _n_chunks(n_tiles, batch * e_blocks, x.device) if x.numel() else 1
    tiles = triton.cdiv(n_tiles, chunks)
    part = torch.zeros((batch * chunks, 5, dim), device=x.device, dtype=acc_dtype)
    if x.numel():
        x_ble, dy_ble, dx_ble = x.transpose(1, 2), dout.transpose(1, 2), dx.transpose(1, 2)
        _causal_conv1d_bwd_kernel[(chunks, e_blocks, batch)](
            x_ble, taps, bias if bias is not None else taps, dy_ble, dx_ble, part,
            L, dim, tiles,
            x_ble.stride(0), x_ble.stride(1), x_ble.stride(2),
            taps.stride(0), taps.stride(1),
            dy_ble.stride(0), dy_ble.stride(1), dy_ble.stride(2),
            dx_ble.stride(0), dx_ble.stride(1), dx_ble.stride(2),
            HAS_BIAS=bias is not None,
            SILU=activation is not None,
            ACC=tl.float64 if acc_dtype == torch.float64 else tl.float32,
            BLOCK_L=block_l, BLOCK_E=block_e,
            num_warps=num_warps,
        )
    sums = part.sum(0)  # (5, dim)
    dweight = sums[KERNEL_WIDTH - width:KERNEL_WIDTH].t().contiguous().to(weight.dtype)
    dbias = sums[KERNEL_WIDTH].to(bias.dtype) if bias is not None else None
    return dx, dweight, dbias
