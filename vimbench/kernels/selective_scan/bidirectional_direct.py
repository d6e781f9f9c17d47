"""The bidirectional scan, direct scheme: both directions walked in the same loop.

One program owns BLOCK_D channels of one batch element.  At step k the forward direction
is at t = k and the backward one at t = L-1-k, so every thread carries two independent
recurrences (twice the independent work of one direction to hide latency with) and the
two directions share the loop's overhead.  Each direction contributes `y * silu(z) / 2`
at its position, in two phases of the same code (the phase is a runtime value, so the
unrolled body is compiled once):

- phase 1 (k < L // 2): the two positions are distinct and not yet written: each
  direction stores its half;
- phase 2: each direction adds its half to what the other one stored there in phase 1.
  For odd L both directions reach the middle position m at the same step: y[m] was set
  to zero up front, the forward direction adds both halves in registers and the
  backward store of that step is masked off.

A position is always written and re-read by the same thread (the channel is the same),
and every store of phase 1 precedes every load of phase 2 in program order (the
prefetch pipeline restarts at the phase boundary), so no barrier is needed.  Nothing is
flipped and no ungated output is written.  The step machinery (loads, B/C tiles, one
step, stores) is shared with the one-direction kernels in `triton_kernels.py`.
"""

from __future__ import annotations

import triton
import triton.language as tl

from .triton_kernels import _group_loads, _scan_group, _store_group


@triton.jit
def _at(base, strides, t):
    # the six stream pointers (u, delta, z, y, B, C) at time step t
    return (base[0] + t * strides[0], base[1] + t * strides[1], base[2] + t * strides[2],
            base[3] + t * strides[3], base[4] + t * strides[4], base[5] + t * strides[5])


@triton.jit
def _loads(p, d, offs, s_BC, m_d, n_valid, y_on,
           N: tl.constexpr, NP: tl.constexpr, T: tl.constexpr, LOG_TNP: tl.constexpr,
           EVEN_D: tl.constexpr, MASKED: tl.constexpr):
    # C carries the 1/2 of the average
    return _group_loads(p[0], p[1], p[2], p[3], p[4], p[5], d[0], d[1], d[2], d[3], d[4], d[5],
                        offs, s_BC[0], s_BC[1], m_d, n_valid, 0.5, y_on,
                        True, True, True, N, NP, T, LOG_TNP, EVEN_D, MASKED)


@triton.jit
def _both_groups(h_f, h_b, cur_f, cur_b, p_f, p_b, d_f, d_b, offs_f, offs_b, t_f, t_b,
                 A2_f, A2_b, D_f, D_b, bias_f, bias_b, m_d, n_valid,
                 HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
                 N: tl.constexpr, NP: tl.constexpr, T: tl.constexpr, LOG_TNP: tl.constexpr,
                 FAST_EXP: tl.constexpr, EVEN_D: tl.constexpr, MASKED: tl.constexpr):
    """The steps of one loaded group of each direction, and their stores.  Where the two
    directions stand on the same position (odd L, middle step) the forward one stores
    both halves and the backward store is dropped."""
    h_f, _, y_f = _scan_group(h_f, 0.0, cur_f, A2_f, D_f, bias_f, n_valid, True, HAS_D, HAS_BIAS,
                              SOFTPLUS, 2, False, N, NP, T, LOG_TNP, FAST_EXP, MASKED)
    h_b, _, y_b = _scan_group(h_b, 0.0, cur_b, A2_b, D_b, bias_b, n_valid, True, HAS_D, HAS_BIAS,
                              SOFTPLUS, 2, False, N, NP, T, LOG_TNP, FAST_EXP, MASKED)
    y_fs = ()
    for i in tl.static_range(T):
        same = (t_f + i) == (t_b - i)
        y_fs += (tl.where(same, y_f[i] + y_b[i], y_f[i]),)
        v = y_b[i].to(p_b[3].dtype.element_ty)
        if MASKED:
            tl.store(p_b[3] + i * d_b[3] + offs_b[3], v, mask=m_d & (i < n_valid) & (not same))
        elif EVEN_D:
            tl.store(p_b[3] + i * d_b[3] + offs_b[3], v, mask=not same)
        else:
            tl.store(p_b[3] + i * d_b[3] + offs_b[3], v, mask=m_d & (not same))
    _store_group(p_f[3], d_f[3], offs_f[3], y_fs, m_d, n_valid, T, EVEN_D, MASKED)
    return h_f, h_b


@triton.jit
def _direction_setup(p_A, p_D, p_bias, s_Ad, s_An, offs_d, m_d,
                     HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, N: tl.constexpr,
                     BLOCK_D: tl.constexpr):
    A2 = ()
    h = ()
    for n in tl.static_range(N):
        # exp(dt * A) = exp2(dt * A * log2(e))
        A2 += (tl.load(p_A + offs_d * s_Ad + n * s_An, mask=m_d, other=0.0).to(tl.float32)
               * 1.4426950408889634,)
        h += (tl.zeros([BLOCK_D], dtype=tl.float32),)
    b_D = tl.zeros([BLOCK_D], dtype=tl.float32)
    b_bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        b_D = tl.load(p_D + offs_d, mask=m_d, other=0.0).to(tl.float32) * 0.5
    if HAS_BIAS:
        b_bias = tl.load(p_bias + offs_d, mask=m_d, other=0.0).to(tl.float32)
    return A2, h, b_D, b_bias


@triton.jit
def _bidirectional_direct_kernel(
    p_u, p_dl, p_A, p_B, p_C, p_D, p_bias,
    p_u1, p_dl1, p_A1, p_B1, p_C1, p_D1, p_bias1,
    p_z, p_y, p_state, p_dtsum,
    L, dim, seg_len, n_seg,
    s_ub, s_ud, s_ul, s_dlb, s_dld, s_dll, s_Ad, s_An,
    s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
    s_u1b, s_u1d, s_u1l, s_dl1b, s_dl1d, s_dl1l, s_A1d, s_A1n,
    s_B1b, s_B1n, s_B1l, s_C1b, s_C1n, s_C1l,
    s_zb, s_zd, s_zl, s_yb, s_yd, s_yl,
    HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, N: tl.constexpr, NP: tl.constexpr, T: tl.constexpr,
    LOG_TNP: tl.constexpr, FAST_EXP: tl.constexpr, EVEN_D: tl.constexpr,
):
    """`y = (y_fwd + y_bwd) / 2 * silu(z)`, grid (dim blocks, batch).  Same arguments as
    `_bidirectional_scan_kernel` (the state/segment ones are unused here)."""
    i_d = tl.program_id(0)
    i_b = tl.program_id(1).to(tl.int64)
    offs_d = i_d * BLOCK_D + tl.arange(0, BLOCK_D)
    m_d = offs_d < dim
    A2_f, h_f, D_f, bias_f = _direction_setup(p_A, p_D, p_bias, s_Ad, s_An, offs_d, m_d,
                                              HAS_D, HAS_BIAS, N, BLOCK_D)
    A2_b, h_b, D_b, bias_b = _direction_setup(p_A1, p_D1, p_bias1, s_A1d, s_A1n, offs_d, m_d,
                                              HAS_D, HAS_BIAS, N, BLOCK_D)
    # scalar pointers at t = 0 and time strides per stream (u, delta, z, y, B, C); the
    # channel part of each address is a per-thread offset
    base_f = (p_u + i_b * s_ub, p_dl + i_b * s_dlb, p_z + i_b * s_zb, p_y + i_b * s_yb,
              p_B + i_b * s_Bb, p_C + i_b * s_Cb)
    base_b = (p_u1 + i_b * s_u1b, p_dl1 + i_b * s_dl1b, p_z + i_b * s_zb, p_y + i_b * s_yb,
              p_B1 + i_b * s_B1b, p_C1 + i_b * s_C1b)
    s_f = (s_ul.to(tl.int64), s_dll.to(tl.int64), s_zl.to(tl.int64), s_yl.to(tl.int64),
           s_Bl.to(tl.int64), s_Cl.to(tl.int64))
    s_b = (s_u1l.to(tl.int64), s_dl1l.to(tl.int64), s_zl.to(tl.int64), s_yl.to(tl.int64),
           s_B1l.to(tl.int64), s_C1l.to(tl.int64))
    offs_f = (offs_d * s_ud, offs_d * s_dld, offs_d * s_zd, offs_d * s_yd)
    offs_b = (offs_d * s_u1d, offs_d * s_dl1d, offs_d * s_zd, offs_d * s_yd)
    sBC_f = (s_Bn, s_Cn)
    sBC_b = (s_B1n, s_C1n)

    half = L // 2
    if L % 2 == 1:
        # the middle position: both directions add to it in phase 2, in one step
        p_mid = base_f[3] + half * s_f[3] + offs_f[3]
        if EVEN_D:
            tl.store(p_mid, tl.zeros([BLOCK_D], dtype=p_y.dtype.element_ty))
        else:
            tl.store(p_mid, tl.zeros([BLOCK_D], dtype=p_y.dtype.element_ty), mask=m_d)
    d_f = s_f
    d_b = (-s_b[0], -s_b[1], -s_b[2], -s_b[3], -s_b[4], -s_b[5])
    for phase in range(2):
        add = phase == 1
        n_steps = tl.where(add, L - half, half)
        t_f = tl.where(add, half, 0)
        t_b = L - 1 - t_f
        p_f = _at(base_f, s_f, t_f)
        p_b = _at(base_b, s_b, t_b)
        n_full = n_steps // T
        n_tail = n_steps - n_full * T
        first = tl.where(n_full > 0, T, 0)
        nxt_f = _loads(p_f, d_f, offs_f, sBC_f, m_d, first, add, N, NP, T, LOG_TNP, EVEN_D, True)
        nxt_b = _loads(p_b, d_b, offs_b, sBC_b, m_d, first, add, N, NP, T, LOG_TNP, EVEN_D, True)
        for g in range(n_full):
            cur_f = nxt_f
            cur_b = nxt_b
            # the next group's loads; after the last whole group they re-read this one
            k = tl.where(g + 1 < n_full, T, 0)
            nxt_f = _loads(_at(p_f, d_f, k), d_f, offs_f, sBC_f, m_d, T, add, N, NP, T, LOG_TNP,
                           EVEN_D, False)
            nxt_b = _loads(_at(p_b, d_b, k), d_b, offs_b, sBC_b, m_d, T, add, N, NP, T, LOG_TNP,
                           EVEN_D, False)
            h_f, h_b = _both_groups(h_f, h_b, cur_f, cur_b, p_f, p_b, d_f, d_b, offs_f, offs_b,
                                    t_f, t_b, A2_f, A2_b, D_f, D_b, bias_f, bias_b, m_d, T,
                                    HAS_D, HAS_BIAS, SOFTPLUS, N, NP, T, LOG_TNP, FAST_EXP,
                                    EVEN_D, False)
            p_f = _at(p_f, d_f, T)
            p_b = _at(p_b, d_b, T)
            t_f += T
            t_b -= T
        if n_tail > 0:
            cur_f = _loads(p_f, d_f, offs_f, sBC_f, m_d, n_tail, add, N, NP, T, LOG_TNP, EVEN_D, True)
            cur_b = _loads(p_b, d_b, offs_b, sBC_b, m_d, n_tail, add, N, NP, T, LOG_TNP, EVEN_D, True)
            h_f, h_b = _both_groups(h_f, h_b, cur_f, cur_b, p_f, p_b, d_f, d_b, offs_f, offs_b,
                                    t_f, t_b, A2_f, A2_b, D_f, D_b, bias_f, bias_b, m_d, n_tail,
                                    HAS_D, HAS_BIAS, SOFTPLUS, N, NP, T, LOG_TNP, FAST_EXP,
                                    EVEN_D, True)
