"""Backward of the depthwise conv1d (kernel 4) + bias (+ SiLU) kernels, one Triton kernel for
both: causal_conv1d_fn (one causal direction, optional SiLU) and bidirectional_conv1d (the
causal direction and the anti-causal one from the same x, SiLU, dx summed in one pass).

Forward, per channel (taps zero-padded on the left to 4, as the forward kernel does):
    z[t]  = bias + sum_k w[k] x[t - 3 + k],       y[t] = silu(z[t]) or z[t]      causal
    zb[t] = bias_b + sum_k wb[k] x[t + 3 - k],   yb[t] = silu(zb[t])              anti-causal
Backward, with g[t] = dy[t] * silu'(z[t]) (or dy[t] without activation), zero outside 0..L-1,
and gb[t] = dyb[t] * silu'(zb[t]) likewise:
    dx[t]  = sum_k w[k] g[t + 3 - k]  +  sum_k wb[k] gb[t - 3 + k]
    dw[k]  = sum_t g[t] x[t - 3 + k]       dbias   = sum_t g[t]
    dwb[k] = sum_t gb[t] x[t + 3 - k]      dbias_b = sum_t gb[t]
The anti-causal direction is the causal one with every token shift negated, so one helper
(`_direction_bwd`) serves both: it is handed the 7 shifted x tiles in token order or reversed.

Saved for backward, per call: x, the weights and biases themselves - no new allocation, but x
(batch*L*E * x.element_size() bytes) stays alive until the backward; in Vim x is a view of
in_proj's output.  Neither z nor y is kept: with SiLU the kernels recompute them from x (the
tiled one at 4 shifts from the 7 shifted x tiles it loads for dweight anyway, the
sequential one once a token), cheaper than storing and re-reading 2-4 bytes an element.  Autograd
through the fp32 reference keeps about 8 bytes an element a direction (an fp32 copy of x and
the pre-activation).  Two directions in one pass read x once and write dx once, where two
causal_conv1d_bwd calls on x and on a token-flipped copy read x twice, write two dx, flip
dyb and the second dx, and sum them.

Two kernels, by layout.  Channels dense (Vim's: x is a view of in_proj's (batch, L, 2E)
output): `_conv1d_bwd_seq_kernel`, one channel a thread walking a chunk of tokens in order
with the last 4 x and g values in registers, so each token's pre-activation and SiLU
derivative are computed once a direction.  Tokens dense: `_conv1d_bwd_kernel`, whose
programs own BLOCK_E channels of one sequence and walk TILES tiles of BLOCK_L tokens (loads
along the dense tokens), recomputing z for the 4 tap shifts of each tile and keeping the
dweight / dbias terms as [BLOCK_L, BLOCK_E] tiles, summed over tokens once at the end.
Either way the fp32 scratch is
(batch * chunks, 5 a direction, E) and torch sums it.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..host_math import cdiv
from .fused import _as_taps

KERNEL_WIDTH = 4


@triton.jit
def _load_shift(p_xb, t, s: tl.constexpr, e, m_e, L, s_xl, s_xe, ACC: tl.constexpr):
    """x[t + s] for a [BL, BE] tile, 0 outside 0..L-1."""
    tt = t + s
    m = ((tt >= 0) & (tt < L))[:, None] & m_e[None, :]
    return tl.load(p_xb + tt.to(tl.int64)[:, None] * s_xl + e[None, :] * s_xe, mask=m, other=0.0).to(ACC)


@triton.jit
def _dsilu(dy, z):
    """dy * silu'(z)."""
    sig = 1.0 / (1.0 + tl.exp(-z))
    return dy * (sig * (1.0 + z * (1.0 - sig)))


@triton.jit
def _dz(p_dyb, t, s: tl.constexpr, e, m_e, L, s_yl, s_ye, z, SILU: tl.constexpr, ACC: tl.constexpr):
    """g[t + s] = dy[t + s] * act'(z[t + s]) (z given), 0 outside 0..L-1."""
    b_dy = _load_shift(p_dyb, t, s, e, m_e, L, s_yl, s_ye, ACC)
    if SILU:
        b_dy = _dsilu(b_dy, z)
    return b_dy


@triton.jit
def _taps(p_w, p_bias, e, m_e, s_we, s_wk, HAS_BIAS: tl.constexpr, ACC: tl.constexpr, BLOCK_E: tl.constexpr):
    """The 4 taps and the bias of BLOCK_E channels, each [1, BE]."""
    w0 = tl.load(p_w + e * s_we + 0 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    w1 = tl.load(p_w + e * s_we + 1 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    w2 = tl.load(p_w + e * s_we + 2 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    w3 = tl.load(p_w + e * s_we + 3 * s_wk, mask=m_e, other=0.0).to(ACC)[None, :]
    if HAS_BIAS:
        b0 = tl.load(p_bias + e, mask=m_e, other=0.0).to(ACC)[None, :]
    else:
        b0 = tl.zeros([1, BLOCK_E], dtype=ACC)
    return w0, w1, w2, w3, b0


@triton.jit
def _direction_bwd(x0, x1, x2, x3, x4, x5, x6, w0, w1, w2, w3, b0,
                   p_dyb, t, SIGN: tl.constexpr, e, m_e, L, s_yl, s_ye,
                   SILU: tl.constexpr, ACC: tl.constexpr):
    """One direction's dx tile and its tile terms of dw[0..3] and dbias (summed over tokens
    by the caller after its last tile, not per tile: a sum over the tile's rows crosses
    threads and warps, shuffles and barriers every tile), given
    x_i = x[t + SIGN * (i - 3)] (SIGN 1: causal; -1: anti-causal, whose output at t + SIGN*s
    reads x_s..x_{s+3} with taps 0..3 exactly as the causal one does)."""
    if SILU:  # pre-activations at t + SIGN * s, s = 0..3
        z0 = b0 + w0 * x0 + w1 * x1 + w2 * x2 + w3 * x3
        z1 = b0 + w0 * x1 + w1 * x2 + w2 * x3 + w3 * x4
        z2 = b0 + w0 * x2 + w1 * x3 + w2 * x4 + w3 * x5
        z3 = b0 + w0 * x3 + w1 * x4 + w2 * x5 + w3 * x6
    else:  # unused without SILU
        z0 = x0
        z1 = x0
        z2 = x0
        z3 = x0
    g0 = _dz(p_dyb, t, SIGN * 0, e, m_e, L, s_yl, s_ye, z0, SILU, ACC)
    g1 = _dz(p_dyb, t, SIGN * 1, e, m_e, L, s_yl, s_ye, z1, SILU, ACC)
    g2 = _dz(p_dyb, t, SIGN * 2, e, m_e, L, s_yl, s_ye, z2, SILU, ACC)
    g3 = _dz(p_dyb, t, SIGN * 3, e, m_e, L, s_yl, s_ye, z3, SILU, ACC)
    b_dx = w3 * g0 + w2 * g1 + w1 * g2 + w0 * g3
    # g0 is 0 for t >= L (masked load), so padded rows add nothing
    return b_dx, g0 * x0, g0 * x1, g0 * x2, g0 * x3, g0


@triton.jit
def _store_part(p_part, E, e, m_e, dw0, dw1, dw2, dw3, db):
    """One direction's scratch rows: [dw0, dw1, dw2, dw3, dbias] x E."""
    tl.store(p_part + 0 * E + e, dw0, mask=m_e)
    tl.store(p_part + 1 * E + e, dw1, mask=m_e)
    tl.store(p_part + 2 * E + e, dw2, mask=m_e)
    tl.store(p_part + 3 * E + e, dw3, mask=m_e)
    tl.store(p_part + 4 * E + e, db, mask=m_e)


@triton.jit
def _conv1d_bwd_kernel(
    p_x, p_w, p_bias, p_dy, p_wb, p_bias_b, p_dyb, p_dx, p_dwb_part,
    L, E, tiles,
    s_xb, s_xl, s_xe,
    s_we, s_wk, s_wbe, s_wbk,
    s_yb, s_yl, s_ye,
    s_ybb, s_ybl, s_ybe,
    s_db, s_dl, s_de,
    HAS_BIAS: tl.constexpr,
    HAS_BIAS_B: tl.constexpr,
    BIDIR: tl.constexpr,  # also the anti-causal direction (p_wb, p_bias_b, p_dyb), always SiLU
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
    p_dy_f = p_dy + i_b * s_yb
    p_dy_b = p_dyb + i_b * s_ybb
    w0, w1, w2, w3, b0 = _taps(p_w, p_bias, e, m_e, s_we, s_wk, HAS_BIAS, ACC, BLOCK_E)
    wb0, wb1, wb2, wb3, bb0 = _taps(p_wb, p_bias_b, e, m_e, s_wbe, s_wbk, HAS_BIAS_B, ACC, BLOCK_E)
    # [BL, BE] running terms, summed over tokens once after the last tile
    dw0 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dw1 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dw2 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dw3 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    db = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dwb0 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dwb1 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dwb2 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dwb3 = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    dbb = tl.zeros([BLOCK_L, BLOCK_E], dtype=ACC)
    for i in range(0, tiles):
        t = (i_c * tiles + i) * BLOCK_L + tl.arange(0, BLOCK_L)
        xm3 = _load_shift(p_xb, t, -3, e, m_e, L, s_xl, s_xe, ACC)
        xm2 = _load_shift(p_xb, t, -2, e, m_e, L, s_xl, s_xe, ACC)
        xm1 = _load_shift(p_xb, t, -1, e, m_e, L, s_xl, s_xe, ACC)
        x0 = _load_shift(p_xb, t, 0, e, m_e, L, s_xl, s_xe, ACC)
        if SILU or BIDIR:  # the causal z at t+1..t+3, or the anti-causal taps look ahead
            xp1 = _load_shift(p_xb, t, 1, e, m_e, L, s_xl, s_xe, ACC)
            xp2 = _load_shift(p_xb, t, 2, e, m_e, L, s_xl, s_xe, ACC)
            xp3 = _load_shift(p_xb, t, 3, e, m_e, L, s_xl, s_xe, ACC)
        else:
            xp1 = xm3  # unused
            xp2 = xm3
            xp3 = xm3
        b_dx, s0, s1, s2, s3, sb = _direction_bwd(xm3, xm2, xm1, x0, xp1, xp2, xp3, w0, w1, w2, w3, b0,
                                                  p_dy_f, t, 1, e, m_e, L, s_yl, s_ye, SILU, ACC)
        dw0 += s0
        dw1 += s1
        dw2 += s2
        dw3 += s3
        db += sb
        if BIDIR:
            b_dxb, s0, s1, s2, s3, sb = _direction_bwd(xp3, xp2, xp1, x0, xm1, xm2, xm3, wb0, wb1, wb2, wb3, bb0,
                                                       p_dy_b, t, -1, e, m_e, L, s_ybl, s_ybe, True, ACC)
            b_dx += b_dxb
            dwb0 += s0
            dwb1 += s1
            dwb2 += s2
            dwb3 += s3
            dbb += sb
        m_out = (t < L)[:, None] & m_e[None, :]
        tl.store(p_dx + i_b * s_db + t.to(tl.int64)[:, None] * s_dl + e[None, :] * s_de,
                 b_dx.to(p_dx.dtype.element_ty), mask=m_out)
    # scratch row (i_b, i_c): [dw0..3, dbias] (causal) then, with BIDIR, the same anti-causal
    p_part = p_dwb_part + (i_b * tl.num_programs(0) + i_c) * (5 + 5 * BIDIR) * E
    _store_part(p_part, E, e, m_e, tl.sum(dw0, axis=0), tl.sum(dw1, axis=0), tl.sum(dw2, axis=0),
                tl.sum(dw3, axis=0), tl.sum(db, axis=0))
    if BIDIR:
        _store_part(p_part + 5 * E, E, e, m_e, tl.sum(dwb0, axis=0), tl.sum(dwb1, axis=0), tl.sum(dwb2, axis=0),
                    tl.sum(dwb3, axis=0), tl.sum(dbb, axis=0))


@triton.jit
def _load_token(p, s, L, s_l, o_e, m_e, ACC: tl.constexpr):
    """Token s of one sequence at the thread's channels (offsets o_e), 0 outside 0..L-1.
    s * s_l in 32 bits: the launcher takes this kernel only while L * s_l < 2**31."""
    return tl.load(p + s * s_l + o_e, mask=m_e & (s >= 0) & (s < L), other=0.0).to(ACC)


@triton.jit
def _conv1d_bwd_seq_kernel(
    p_x, p_w, p_bias, p_dy, p_wb, p_bias_b, p_dyb, p_dx, p_dwb_part,
    L, E, chunk,
    s_xb, s_xl, s_xe,
    s_we, s_wk, s_wbe, s_wbk,
    s_yb, s_yl, s_ye,
    s_ybb, s_ybl, s_ybe,
    s_db, s_dl, s_de,
    HAS_BIAS: tl.constexpr,
    HAS_BIAS_B: tl.constexpr,
    BIDIR: tl.constexpr,
    SILU: tl.constexpr,
    ACC: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    """The same gradients as _conv1d_bwd_kernel, one channel a thread walking its tokens in
    order, as the scan does, so each token's pre-activation and SiLU derivative are
    computed once a direction (the tiled kernel computes them for 4 tap shifts).  At step s
    it loads x[s], dy[s] and dyb[s - 3] and has, in registers, x[s-3..s], g[s-3..s] and
    gb[s-6..s-3]: enough for dx[s - 3].  A program owns the tokens [c0, c1) of one
    sequence (chunk = c1 - c0) for dx and for the weight sums, and walks s over [c0, c1 + 3):
    the window of 3 on each side is recomputed, not summed twice."""
    i_c = tl.program_id(0)
    i_e = tl.program_id(1)
    i_b = tl.program_id(2).to(tl.int64)
    e = i_e * BLOCK_E + tl.arange(0, BLOCK_E)
    m_e = e < E
    w0, w1, w2, w3, b0 = _taps(p_w, p_bias, e, m_e, s_we, s_wk, HAS_BIAS, ACC, BLOCK_E)
    wb0, wb1, wb2, wb3, bb0 = _taps(p_wb, p_bias_b, e, m_e, s_wbe, s_wbk, HAS_BIAS_B, ACC, BLOCK_E)
    w0, w1, w2, w3, b0 = tl.reshape(w0, [BLOCK_E]), tl.reshape(w1, [BLOCK_E]), tl.reshape(w2, [BLOCK_E]), \
        tl.reshape(w3, [BLOCK_E]), tl.reshape(b0, [BLOCK_E])
    wb0, wb1, wb2, wb3, bb0 = tl.reshape(wb0, [BLOCK_E]), tl.reshape(wb1, [BLOCK_E]), tl.reshape(wb2, [BLOCK_E]), \
        tl.reshape(wb3, [BLOCK_E]), tl.reshape(bb0, [BLOCK_E])
    p_xb, o_x = p_x + i_b * s_xb, e * s_xe
    p_yb, o_y = p_dy + i_b * s_yb, e * s_ye
    p_ybb, o_yb = p_dyb + i_b * s_ybb, e * s_ybe
    c0 = i_c * chunk
    c1 = tl.minimum(c0 + chunk, L)
    zero = tl.zeros([BLOCK_E], dtype=ACC)
    xm3 = _load_token(p_xb, c0 - 3, L, s_xl, o_x, m_e, ACC)
    xm2 = _load_token(p_xb, c0 - 2, L, s_xl, o_x, m_e, ACC)
    xm1 = _load_token(p_xb, c0 - 1, L, s_xl, o_x, m_e, ACC)
    gm3 = zero  # g[s-3], g[s-2], g[s-1]: only read once s >= c0 + 3, by then computed here
    gm2 = zero
    gm1 = zero
    gb6 = zero  # gb[s-6], gb[s-5], gb[s-4]
    gb5 = zero
    gb4 = zero
    dw0 = zero
    dw1 = zero
    dw2 = zero
    dw3 = zero
    db = zero
    dwb0 = zero
    dwb1 = zero
    dwb2 = zero
    dwb3 = zero
    dbb = zero
    for s in range(c0, c1 + 3):
        x0 = _load_token(p_xb, s, L, s_xl, o_x, m_e, ACC)
        g = _load_token(p_yb, s, L, s_yl, o_y, m_e, ACC)
        if SILU:
            g = _dsilu(g, b0 + w0 * xm3 + w1 * xm2 + w2 * xm1 + w3 * x0)
        b_dx = w3 * gm3 + w2 * gm2 + w1 * gm1 + w0 * g
        gs = tl.where(s < c1, g, 0.0)  # tokens past the chunk: for dx only
        dw0 += gs * xm3
        dw1 += gs * xm2
        dw2 += gs * xm1
        dw3 += gs * x0
        db += gs
        if BIDIR:
            # the anti-causal output at s - 3 reads x[s-3..s] with taps 3..0
            gb = _dsilu(_load_token(p_ybb, s - 3, L, s_ybl, o_yb, m_e, ACC),
                        bb0 + wb0 * x0 + wb1 * xm1 + wb2 * xm2 + wb3 * xm3)
            b_dx += wb0 * gb6 + wb1 * gb5 + wb2 * gb4 + wb3 * gb
            gbs = tl.where(s - 3 >= c0, gb, 0.0)  # tokens before the chunk: for dx only
            dwb0 += gbs * x0
            dwb1 += gbs * xm1
            dwb2 += gbs * xm2
            dwb3 += gbs * xm3
            dbb += gbs
            gb6 = gb5
            gb5 = gb4
            gb4 = gb
        t = s - 3
        tl.store(p_dx + i_b * s_db + t * s_dl + e * s_de, b_dx.to(p_dx.dtype.element_ty),
                 mask=m_e & (t >= c0))
        xm3 = xm2
        xm2 = xm1
        xm1 = x0
        gm3 = gm2
        gm2 = gm1
        gm1 = g
    p_part = p_dwb_part + (i_b * tl.num_programs(0) + i_c) * (5 + 5 * BIDIR) * E
    _store_part(p_part, E, e, m_e, dw0, dw1, dw2, dw3, db)
    if BIDIR:
        _store_part(p_part + 5 * E, E, e, m_e, dwb0, dwb1, dwb2, dwb3, dbb)


def _n_chunks(n_tiles: int, other_programs: int, device: torch.device) -> int:
    """How many programs share one sequence: enough for ~4 waves on the card, each
    owning as many tiles as possible so the dweight scratch stays small."""
    if device.type == "cuda":
        target = 4 * torch.cuda.get_device_properties(device).multi_processor_count
        return max(1, min(n_tiles, cdiv(target, other_programs)))
    return min(n_tiles, 2)  # the interpreter: still exercise the partial sums


def _conv1d_bwd(x, taps, bias, dy, taps_b, bias_b, dyb, *, silu, block_l, block_e, num_warps):
    """Launch on the kernel's (batch, L, E) views (any strides); taps (E, 4).  taps_b None:
    the causal direction alone.  Returns (dx (batch, L, E) laid out like x, in x's dtype;
    the (5 or 10, E) sums [dw0..3, dbias(, dwb0..3, dbias_b)] in fp64 for fp64 x, else fp32)."""
    batch, L, E = x.shape
    bidir = taps_b is not None
    acc_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    channels_last = x.stride(2) < x.stride(1)
    if channels_last:
        dx = torch.empty((batch, L, E), device=x.device, dtype=x.dtype)
    else:
        dx = torch.empty((batch, E, L), device=x.device, dtype=x.dtype).transpose(1, 2)
    # tiles long along the dense dimension, as in the forward, but of 512 elements (256 for
    # both directions), not 2048: with SiLU ~15 tiles are live a direction (7 x shifts, 4 z,
    # 4 g).  Compiled for sm_90 (SiLU, 4 warps, B 8, L 197, E 384, bf16 and fp32 x, both
    # layouts), no spills: one direction 104-128 registers; both 96-126 (at 512 elements
    # 180-242, half the warps a SM).  The forward's tiles took 255 (and spilled channel-major).
    # Not timed on a GPU yet.
    # Channels dense (Vim's layout): one channel a thread walking its tokens
    # (_conv1d_bwd_seq_kernel), in programs of `block_l` tokens (default 32: the 3-token
    # windows at each end are ~10% recomputed work) and 32 * num_warps channels.
    # Tokens dense: [block_l, block_e] tiles (_conv1d_bwd_kernel).
    row_strides = [abs(t.stride(1)) for t in (x, dy, dx) + ((dyb,) if bidir else ())]
    sequential = channels_last and (L + 3) * max(row_strides) < 2**31  # token offsets in 32 bits
    bl, be = (32, 32 * num_warps) if sequential else (32, 16)
    if bidir and not sequential:
        bl //= 2
    block_l, block_e = block_l or bl, block_e or be
    n_tiles, e_blocks = cdiv(L, block_l), cdiv(E, block_e)
    if sequential:
        chunks, tiles = n_tiles, block_l  # `tiles`: tokens a program
    else:
        chunks = _n_chunks(n_tiles, batch * e_blocks, x.device) if x.numel() else 1
        tiles = cdiv(n_tiles, chunks)
    n_sums = 10 if bidir else 5
    part = torch.zeros((batch * chunks, n_sums, E), device=x.device, dtype=acc_dtype)
    if x.numel():
        if not bidir:  # unused arguments: any valid pointers
            taps_b, dyb = taps, dy
        kernel = _conv1d_bwd_seq_kernel if sequential else _conv1d_bwd_kernel
        blocks = dict(BLOCK_E=block_e) if sequential else dict(BLOCK_L=block_l, BLOCK_E=block_e)
        kernel[(chunks, e_blocks, batch)](
            x, taps, bias if bias is not None else taps, dy,
            taps_b, bias_b if bias_b is not None else taps_b, dyb, dx, part,
            L, E, tiles,
            x.stride(0), x.stride(1), x.stride(2),
            taps.stride(0), taps.stride(1), taps_b.stride(0), taps_b.stride(1),
            dy.stride(0), dy.stride(1), dy.stride(2),
            dyb.stride(0), dyb.stride(1), dyb.stride(2),
            dx.stride(0), dx.stride(1), dx.stride(2),
            HAS_BIAS=bias is not None, HAS_BIAS_B=bias_b is not None, BIDIR=bidir, SILU=silu,
            ACC=tl.float64 if acc_dtype == torch.float64 else tl.float32,
            num_warps=num_warps, **blocks,
        )
    return dx, part.sum(0)


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
    width = weight.shape[1]
    if dout.shape != x.shape:
        raise ValueError(f"causal_conv1d_bwd: dout shape {tuple(dout.shape)} != x shape {tuple(x.shape)}")
    if not 2 <= width <= KERNEL_WIDTH:
        raise ValueError(f"causal_conv1d_bwd: width must be 2..{KERNEL_WIDTH}, got {width}")
    taps = torch.nn.functional.pad(weight, (KERNEL_WIDTH - width, 0))  # zero taps in front
    dx, sums = _conv1d_bwd(x.transpose(1, 2), taps, bias, dout.transpose(1, 2), None, None, None,
                           silu=activation is not None, block_l=block_l, block_e=block_e, num_warps=num_warps)
    dweight = sums[KERNEL_WIDTH - width:KERNEL_WIDTH].t().contiguous().to(weight.dtype)
    dbias = sums[KERNEL_WIDTH].to(bias.dtype) if bias is not None else None
    return dx.transpose(1, 2), dweight, dbias


def bidirectional_conv1d_bwd(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weight_b: torch.Tensor,
    bias_b: torch.Tensor | None,
    dout_f: torch.Tensor,
    dout_b: torch.Tensor,
    *,
    block_l: int | None = None,
    block_e: int | None = None,
    num_warps: int = 4,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor, torch.Tensor | None]:
    """Gradients of `bidirectional_conv1d(x, weight, bias, weight_b, bias_b)` given the
    gradients of its two outputs.

    x, dout_f, dout_b: (batch, L, E), any strides (dout in any float dtype); weight, weight_b:
    (E, 1, 4) or (E, 4); bias, bias_b: (E,) or None.  Returns (dx, dweight, dbias, dweight_b,
    dbias_b): dx (batch, L, E) laid out like x (channels dense or tokens dense) in x's dtype,
    both directions summed; each parameter's gradient in its shape and dtype (None for a None
    bias).  Computes in fp64 for fp64 x, else fp32.
    """
    if x.dim() != 3:
        raise ValueError(f"bidirectional_conv1d_bwd: x must be (batch, L, E), got shape {tuple(x.shape)}")
    for name, d in (("dout_f", dout_f), ("dout_b", dout_b)):
        if d.shape != x.shape:
            raise ValueError(f"bidirectional_conv1d_bwd: {name} shape {tuple(d.shape)} != x shape {tuple(x.shape)}")
    E = x.shape[2]
    taps, taps_b = _as_taps("weight", weight, E), _as_taps("weight_b", weight_b, E)
    dx, sums = _conv1d_bwd(x, taps, bias, dout_f, taps_b, bias_b, dout_b,
                           silu=True, block_l=block_l, block_e=block_e, num_warps=num_warps)

    def grads(rows, w, b):  # (5, E) sums -> (dweight in w's shape, dbias or None)
        return (rows[:KERNEL_WIDTH].t().contiguous().view(w.shape).to(w.dtype),
                rows[KERNEL_WIDTH].to(b.dtype) if b is not None else None)

    return (dx, *grads(sums[:5], weight, bias), *grads(sums[5:], weight_b, bias_b))
