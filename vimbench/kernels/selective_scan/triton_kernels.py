"""Triton kernels of the selective scan (inference only).  Launchers live in `fused.py`;
the exact reference is `reference.selective_scan_ref`.

One program owns BLOCK_D channels of one batch element and keeps their state in
registers as N vectors h[n] of [BLOCK_D] (n unrolled at compile time): every state of a
channel lives in one thread, so the sum over n of C*h never leaves the thread, and B_t[n],
C_t[n] are scalars shared by all threads.  Unrolling n by hand (rather than a [N, BLOCK_D]
tile) pins that layout: with a 2-d tile the compiler may spread n over lanes when A or B
is contiguous in n, which costs a shuffle reduction per step.  Time is walked in groups
of T unrolled steps, software-pipelined by hand: every load of group g + 1 is issued
before the steps of group g, and the group's stores come last.

Two schemes (chosen per shape by `fused.plan_scan`):
- direct:  one program per (batch, channel block) scans the whole sequence.  Enough
           programs at large batch; each (b, d, t) costs N exponentials, the floor.
- chunked: time is cut into segments scanned in parallel.  Pass 1 runs every segment
           from a zero state and keeps only its end state and its sum of dt (the
           segment's total decay is exp(A * sum dt), as A is constant in time); the
           carry kernel combines segments with an associative scan over segments;
           pass 2 re-runs every segment from its carried-in state and writes y.  Twice
           the exponentials, but parallel over time: the scheme for small batches.

The bidirectional op runs the backward direction first and writes `y_b * silu(z) / 2`,
then the forward direction in the same program adds `y_f * silu(z) / 2` to it; no flipped
copy and no ungated y is ever written.

Memory traffic of one direction (minimum): read u, delta, z and write y (4 x batch*dim*L
elements) and read B, C (2 x batch*N*L).
"""

from __future__ import annotations

import triton
import triton.language as tl

# Constants appear as literals inside the kernels: log2(e) = 1.4426950408889634 turns
# exp into exp2 (one MUFU.EX2), ln(2) = 0.6931471805599453 turns log2 back into log.


@triton.jit
def _exp2(x, FAST: tl.constexpr):
    if FAST:
        # one MUFU.EX2, flushing denormal results to zero (a decay that small is zero)
        return tl.inline_asm_elementwise(
            "ex2.approx.ftz.f32 $0, $1;", "=r,r", [x], dtype=tl.float32, is_pure=True, pack=1)
    else:
        return tl.exp2(x)


@triton.jit
def _log2(x, FAST: tl.constexpr):
    if FAST:
        # one MUFU.LG2 instead of libdevice's ~25-instruction polynomial
        return tl.inline_asm_elementwise(
            "lg2.approx.ftz.f32 $0, $1;", "=r,r", [x], dtype=tl.float32, is_pure=True, pack=1)
    else:
        return tl.log2(x)


@triton.jit
def _softplus(x, FAST: tl.constexpr):
    # log1p(exp(x)) without overflow, and without the cancellation of log(1 + e) for
    # small e (a 4-term series there keeps fp32 accuracy).
    e = _exp2(x * 1.4426950408889634, FAST)
    series = e * (1.0 - e * (0.5 - e * (0.3333333333333333 - e * 0.25)))
    logged = _log2(1.0 + e, FAST) * 0.6931471805599453
    return tl.where(x > 20.0, x, tl.where(x < -3.5, series, logged))


@triton.jit
def _silu(z, FAST: tl.constexpr):
    # z * sigmoid(z); an approximate division (MUFU.RCP + FMUL) is plenty here
    return tl.fdiv(z, 1.0 + _exp2(z * -1.4426950408889634, FAST), ieee_rounding=False)


@triton.jit
def _load_channels(p, m_d, EVEN_D: tl.constexpr):
    # EVEN_D: dim is a multiple of BLOCK_D, so no channel mask (and no "other" fill)
    if EVEN_D:
        return tl.load(p)
    else:
        return tl.load(p, mask=m_d, other=0.0)


@triton.jit
def _group_loads(
    s0, p_u, p_dl, p_z, p_y, p_B, p_C,
    s_ul, s_dll, s_zl, s_yl, s_Bn, s_Bl, s_Cn, s_Cl,
    m_d, t_first, t_stop,
    REVERSE: tl.constexpr, HAS_Z: tl.constexpr, LOAD_Y: tl.constexpr, LOAD_C: tl.constexpr,
    N: tl.constexpr, T: tl.constexpr, BC_PAIRS: tl.constexpr, EVEN_D: tl.constexpr,
):
    """Every load of the T steps s0 .. s0+T-1, as flat tuples (B/C: T rows of N values,
    or of N/2 32-bit words holding bf16 pairs when BC_PAIRS).  Steps past the end read a
    valid clamped step (their dt is forced to 0 later), so no load needs a step mask."""
    b_us = ()
    b_dls = ()
    b_zs = ()
    b_olds = ()
    b_Bs = ()
    b_Cs = ()
    for i in tl.static_range(T):
        if REVERSE:
            t = tl.maximum(t_first - s0 - i, t_stop).to(tl.int64)
        else:
            t = tl.minimum(t_first + s0 + i, t_stop).to(tl.int64)
        b_us += (_load_channels(p_u + t * s_ul, m_d, EVEN_D),)
        b_dls += (_load_channels(p_dl + t * s_dll, m_d, EVEN_D),)
        if HAS_Z:
            b_zs += (_load_channels(p_z + t * s_zl, m_d, EVEN_D),)
        if LOAD_Y:
            b_olds += (_load_channels(p_y + t * s_yl, m_d, EVEN_D),)
        if BC_PAIRS:
            p_Bw = (p_B + t * s_Bl).to(tl.pointer_type(tl.int32), bitcast=True)
            p_Cw = (p_C + t * s_Cl).to(tl.pointer_type(tl.int32), bitcast=True)
            for j in tl.static_range(N // 2):
                b_Bs += (tl.load(p_Bw + j),)
                if LOAD_C:
                    b_Cs += (tl.load(p_Cw + j),)
        else:
            for n in tl.static_range(N):
                b_Bs += (tl.load(p_B + t * s_Bl + n * s_Bn).to(tl.float32),)
                if LOAD_C:
                    b_Cs += (tl.load(p_C + t * s_Cl + n * s_Cn).to(tl.float32),)
    return b_us, b_dls, b_zs, b_olds, b_Bs, b_Cs


@triton.jit
def _bc_value(vals, i: tl.constexpr, n: tl.constexpr, N: tl.constexpr, PAIRS: tl.constexpr):
    """B_t[n] of step i of a group as fp32; a bf16 pair word holds n (low) and n + 1."""
    if PAIRS:
        w = vals[i * (N // 2) + n // 2]
        if n % 2 == 0:
            return (w << 16).to(tl.float32, bitcast=True)
        else:
            return (w & -65536).to(tl.float32, bitcast=True)
    else:
        return vals[i * N + n]


@triton.jit
def _scan_steps(
    h, dt_sum,
    p_u, p_dl, p_z, p_y, p_B, p_C,  # p_u..p_y: [BD] pointers at t = 0; p_B, p_C: scalars
    s_ul, s_dll, s_zl, s_yl, s_Bn, s_Bl, s_Cn, s_Cl,
    m_d, b_A2, b_D, b_bias,
    t_first, n_steps, t_stop, y_scale,
    REVERSE: tl.constexpr, HAS_Z: tl.constexpr, HAS_D: tl.constexpr,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    Y_MODE: tl.constexpr,  # 0: no output (state pass), 1: store, 2: add to what is there
    N: tl.constexpr, T: tl.constexpr, FAST_EXP: tl.constexpr, BC_PAIRS: tl.constexpr,
    EVEN_D: tl.constexpr,
):
    """Scan n_steps steps starting at t_first (going down in t if REVERSE; t_stop is the
    last valid step: L - 1 forward, 0 backward) from state h, a tuple of N [BD] vectors
    (b_A2 likewise).  Returns the state after the last step and the running sum of dt.
    B_t[n] and C_t[n] are scalars, the same for every thread.

    Software-pipelined by hand: the loads of group g + 1 are issued before the T
    unrolled steps of group g, so a program waits for memory only once, at the start."""
    LOAD_Y: tl.constexpr = Y_MODE == 2
    LOAD_C: tl.constexpr = Y_MODE != 0
    n_us, n_dls, n_zs, n_olds, n_Bs, n_Cs = _group_loads(
        0, p_u, p_dl, p_z, p_y, p_B, p_C, s_ul, s_dll, s_zl, s_yl, s_Bn, s_Bl, s_Cn, s_Cl,
        m_d, t_first, t_stop, REVERSE, HAS_Z, LOAD_Y, LOAD_C, N, T, BC_PAIRS, EVEN_D)
    for s0 in range(0, n_steps, T):
        b_us, b_dls, b_zs, b_olds, b_Bs, b_Cs = n_us, n_dls, n_zs, n_olds, n_Bs, n_Cs
        n_us, n_dls, n_zs, n_olds, n_Bs, n_Cs = _group_loads(
            s0 + T, p_u, p_dl, p_z, p_y, p_B, p_C, s_ul, s_dll, s_zl, s_yl, s_Bn, s_Bl, s_Cn, s_Cl,
            m_d, t_first, t_stop, REVERSE, HAS_Z, LOAD_Y, LOAD_C, N, T, BC_PAIRS, EVEN_D)
        b_ys = ()
        for i in tl.static_range(T):
            ok = (s0 + i) < n_steps
            b_u = b_us[i].to(tl.float32)
            b_dt = b_dls[i].to(tl.float32)
            if HAS_BIAS:
                b_dt = b_dt + b_bias
            if SOFTPLUS:
                b_dt = _softplus(b_dt, FAST_EXP)
            b_dt = tl.where(ok, b_dt, 0.0)  # a step past the end leaves h unchanged
            dt_sum += b_dt
            b_du = b_dt * b_u
            b_y = tl.zeros_like(b_dt)
            h_next = ()
            for n in tl.static_range(N):
                b_hn = h[n] * _exp2(b_A2[n] * b_dt, FAST_EXP) + _bc_value(b_Bs, i, n, N, BC_PAIRS) * b_du
                h_next += (b_hn,)
                if Y_MODE != 0:
                    b_y += b_hn * _bc_value(b_Cs, i, n, N, BC_PAIRS)
            h = h_next
            if Y_MODE != 0:
                if HAS_D:
                    b_y += b_D * b_u
                if HAS_Z:
                    b_y = b_y * _silu(b_zs[i].to(tl.float32), FAST_EXP)
                b_y = b_y * y_scale
                if Y_MODE == 2:
                    b_y += b_olds[i].to(tl.float32)
                b_ys += (b_y,)
        if Y_MODE != 0:
            for i in tl.static_range(T):
                ok = (s0 + i) < n_steps
                if REVERSE:
                    t = tl.maximum(t_first - s0 - i, t_stop).to(tl.int64)
                else:
                    t = tl.minimum(t_first + s0 + i, t_stop).to(tl.int64)
                if EVEN_D:
                    tl.store(p_y + t * s_yl, b_ys[i].to(p_y.dtype.element_ty), mask=ok)
                else:
                    tl.store(p_y + t * s_yl, b_ys[i].to(p_y.dtype.element_ty), mask=m_d & ok)
    return h, dt_sum


@triton.jit
def _scan_one_direction(
    i_b, i_d, i_seg, i_dir,
    p_u, p_dl, p_A, p_B, p_C, p_D, p_bias, p_z, p_y, p_state, p_dtsum,
    L, dim, seg_len, n_seg,
    s_ub, s_ud, s_ul, s_dlb, s_dld, s_dll, s_Ad, s_An,
    s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
    s_zb, s_zd, s_zl, s_yb, s_yd, s_yl,
    y_scale,
    NDIR: tl.constexpr, REVERSE: tl.constexpr, PASS: tl.constexpr,
    HAS_Z: tl.constexpr, HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    Y_MODE: tl.constexpr, STORE_FINAL: tl.constexpr,
    BLOCK_D: tl.constexpr, N: tl.constexpr, T: tl.constexpr, FAST_EXP: tl.constexpr,
    BC_PAIRS: tl.constexpr, EVEN_D: tl.constexpr,
):
    """One direction over segment i_seg (the whole sequence when n_seg == 1).

    State buffer layout (fp32): state[b, dir, slot, n, d] with n_seg + 1 slots.
    PASS 1 writes the segment's end state (from zero) to slot i_seg and its sum of dt to
    dtsum[b, dir, i_seg, d]; the carry kernel turns them into carried-in states:
    segment k starts from slot k (forward) or k + 1 (backward), and the final state is in
    slot n_seg (forward) or 0 (backward).  i_dir picks the buffer of this direction.
    """
    offs_d = i_d * BLOCK_D + tl.arange(0, BLOCK_D)
    m_d = offs_d < dim
    b_D = tl.zeros([BLOCK_D], dtype=tl.float32)
    b_bias = tl.zeros([BLOCK_D], dtype=tl.float32)
    if HAS_D:
        b_D = tl.load(p_D + offs_d, mask=m_d, other=0.0).to(tl.float32)
    if HAS_BIAS:
        b_bias = tl.load(p_bias + offs_d, mask=m_d, other=0.0).to(tl.float32)

    t0 = i_seg * seg_len
    n_steps = tl.minimum(seg_len, L - t0)
    if REVERSE:
        t_first = t0 + n_steps - 1
        slot_in = i_seg + 1
        slot_final = 0
    else:
        t_first = t0
        slot_in = i_seg
        slot_final = n_seg

    p_slots = p_state + ((i_b * NDIR + i_dir) * (n_seg + 1)) * N * dim + offs_d  # [BD], slot 0, n 0
    b_A2 = ()
    h = ()
    for n in tl.static_range(N):
        # exp(dt * A) = exp2(dt * A * log2(e))
        b_A2 += (tl.load(p_A + offs_d * s_Ad + n * s_An, mask=m_d, other=0.0).to(tl.float32)
                 * 1.4426950408889634,)
        if PASS == 2:
            h += (tl.load(p_slots + (slot_in * N + n) * dim, mask=m_d, other=0.0),)
        else:
            h += (tl.zeros([BLOCK_D], dtype=tl.float32),)
    dt_sum = tl.zeros([BLOCK_D], dtype=tl.float32)

    p_u = p_u + i_b * s_ub + offs_d * s_ud
    p_dl = p_dl + i_b * s_dlb + offs_d * s_dld
    p_z = p_z + i_b * s_zb + offs_d * s_zd
    p_y = p_y + i_b * s_yb + offs_d * s_yd
    p_B = p_B + i_b * s_Bb
    p_C = p_C + i_b * s_Cb
    h, dt_sum = _scan_steps(
        h, dt_sum, p_u, p_dl, p_z, p_y, p_B, p_C,
        s_ul, s_dll, s_zl, s_yl, s_Bn, s_Bl, s_Cn, s_Cl,
        m_d, b_A2, b_D, b_bias, t_first, n_steps, 0 if REVERSE else L - 1, y_scale,
        REVERSE, HAS_Z, HAS_D, HAS_BIAS, SOFTPLUS, Y_MODE, N, T, FAST_EXP, BC_PAIRS, EVEN_D)

    if PASS == 1:
        for n in tl.static_range(N):
            tl.store(p_slots + (i_seg * N + n) * dim, h[n], mask=m_d)
        tl.store(p_dtsum + ((i_b * NDIR + i_dir) * n_seg + i_seg) * dim + offs_d, dt_sum, mask=m_d)
    if STORE_FINAL:
        for n in tl.static_range(N):
            tl.store(p_slots + (slot_final * N + n) * dim, h[n], mask=m_d)


@triton.jit
def _selective_scan_kernel(
    p_u, p_dl, p_A, p_B, p_C, p_D, p_bias, p_z, p_y, p_state, p_dtsum,
    L, dim, seg_len, n_seg,
    s_ub, s_ud, s_ul, s_dlb, s_dld, s_dll, s_Ad, s_An,
    s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
    s_zb, s_zd, s_zl, s_yb, s_yd, s_yl,
    REVERSE: tl.constexpr, PASS: tl.constexpr,
    HAS_Z: tl.constexpr, HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    Y_MODE: tl.constexpr, STORE_FINAL: tl.constexpr,
    BLOCK_D: tl.constexpr, N: tl.constexpr, T: tl.constexpr, FAST_EXP: tl.constexpr,
    BC_PAIRS: tl.constexpr, EVEN_D: tl.constexpr,
):
    """One direction. Grid: (dim blocks, batch, segments). PASS 0: whole sequence, writes
    y; PASS 1: segment end states; PASS 2: segment outputs from carried-in states."""
    i_d = tl.program_id(0)
    i_b = tl.program_id(1).to(tl.int64)
    i_seg = tl.program_id(2)
    _scan_one_direction(
        i_b, i_d, i_seg, 0,
        p_u, p_dl, p_A, p_B, p_C, p_D, p_bias, p_z, p_y, p_state, p_dtsum,
        L, dim, seg_len, n_seg,
        s_ub, s_ud, s_ul, s_dlb, s_dld, s_dll, s_Ad, s_An,
        s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
        s_zb, s_zd, s_zl, s_yb, s_yd, s_yl,
        1.0,
        1, REVERSE, PASS, HAS_Z, HAS_D, HAS_BIAS, SOFTPLUS, Y_MODE, STORE_FINAL,
        BLOCK_D, N, T, FAST_EXP, BC_PAIRS, EVEN_D)


@triton.jit
def _bidirectional_scan_kernel(
    p_u, p_dl, p_A, p_B, p_C, p_D, p_bias,
    p_u1, p_dl1, p_A1, p_B1, p_C1, p_D1, p_bias1,
    p_z, p_y, p_state, p_dtsum,
    L, dim, seg_len, n_seg,
    s_ub, s_ud, s_ul, s_dlb, s_dld, s_dll, s_Ad, s_An,
    s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
    s_u1b, s_u1d, s_u1l, s_dl1b, s_dl1d, s_dl1l, s_A1d, s_A1n,
    s_B1b, s_B1n, s_B1l, s_C1b, s_C1n, s_C1l,
    s_zb, s_zd, s_zl, s_yb, s_yd, s_yl,
    PASS: tl.constexpr, HAS_D: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    BLOCK_D: tl.constexpr, N: tl.constexpr, T: tl.constexpr, FAST_EXP: tl.constexpr,
    BC_PAIRS: tl.constexpr, EVEN_D: tl.constexpr,
):
    """Both directions, `y = (y_fwd + y_bwd) / 2 * silu(z)`.  Grid (dim blocks, batch,
    segments), or (dim blocks, batch, 2 * segments) for PASS 1 (one direction each).
    PASS 0/2: the backward direction stores its gated half, then the forward direction
    adds its own; the same thread reads back what it wrote, after a barrier for safety."""
    i_d = tl.program_id(0)
    i_b = tl.program_id(1).to(tl.int64)
    i_seg = tl.program_id(2)
    if PASS == 1:
        if i_seg >= n_seg:
            _scan_one_direction(
                i_b, i_d, i_seg - n_seg, 1,
                p_u1, p_dl1, p_A1, p_B1, p_C1, p_D1, p_bias1, p_z, p_y, p_state, p_dtsum,
                L, dim, seg_len, n_seg,
                s_u1b, s_u1d, s_u1l, s_dl1b, s_dl1d, s_dl1l, s_A1d, s_A1n,
                s_B1b, s_B1n, s_B1l, s_C1b, s_C1n, s_C1l,
                s_zb, s_zd, s_zl, s_yb, s_yd, s_yl, 1.0,
                2, True, 1, False, HAS_D, HAS_BIAS, SOFTPLUS, 0, False,
                BLOCK_D, N, T, FAST_EXP, BC_PAIRS, EVEN_D)
        else:
            _scan_one_direction(
                i_b, i_d, i_seg, 0,
                p_u, p_dl, p_A, p_B, p_C, p_D, p_bias, p_z, p_y, p_state, p_dtsum,
                L, dim, seg_len, n_seg,
                s_ub, s_ud, s_ul, s_dlb, s_dld, s_dll, s_Ad, s_An,
                s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
                s_zb, s_zd, s_zl, s_yb, s_yd, s_yl, 1.0,
                2, False, 1, False, HAS_D, HAS_BIAS, SOFTPLUS, 0, False,
                BLOCK_D, N, T, FAST_EXP, BC_PAIRS, EVEN_D)
    else:
        _scan_one_direction(
            i_b, i_d, i_seg, 1,
            p_u1, p_dl1, p_A1, p_B1, p_C1, p_D1, p_bias1, p_z, p_y, p_state, p_dtsum,
            L, dim, seg_len, n_seg,
            s_u1b, s_u1d, s_u1l, s_dl1b, s_dl1d, s_dl1l, s_A1d, s_A1n,
            s_B1b, s_B1n, s_B1l, s_C1b, s_C1n, s_C1l,
            s_zb, s_zd, s_zl, s_yb, s_yd, s_yl, 0.5,
            2, True, PASS, True, HAS_D, HAS_BIAS, SOFTPLUS, 1, False,
            BLOCK_D, N, T, FAST_EXP, BC_PAIRS, EVEN_D)
        tl.debug_barrier()
        _scan_one_direction(
            i_b, i_d, i_seg, 0,
            p_u, p_dl, p_A, p_B, p_C, p_D, p_bias, p_z, p_y, p_state, p_dtsum,
            L, dim, seg_len, n_seg,
            s_ub, s_ud, s_ul, s_dlb, s_dld, s_dll, s_Ad, s_An,
            s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
            s_zb, s_zd, s_zl, s_yb, s_yd, s_yl, 0.5,
            2, False, PASS, True, HAS_D, HAS_BIAS, SOFTPLUS, 2, False,
            BLOCK_D, N, T, FAST_EXP, BC_PAIRS, EVEN_D)


@triton.jit
def _combine(a_l, h_l, a_r, h_r):
    # (decay, state) of two consecutive segments, left first
    return a_l * a_r, h_l * a_r + h_r


@triton.jit
def _carry_kernel(
    p_state, p_dtsum, p_A, p_A1,
    dim, N, n_seg,
    s_Ad, s_An, s_A1d, s_A1n,
    NDIR: tl.constexpr, REVERSE: tl.constexpr,
    BLOCK_F: tl.constexpr, NSEG_P: tl.constexpr,
):
    """Segment end states (from zero) -> carried-in states, in place.  Grid: (blocks of
    the flattened (n, d) columns, batch * NDIR).  With NDIR == 2 buffer 1 is the backward
    direction; with NDIR == 1, REVERSE says whether the only one is.  A backward direction
    scans the segments from the last."""
    i_f = tl.program_id(0)
    i_bd = tl.program_id(1).to(tl.int64)
    if NDIR == 2:
        rev = (i_bd % 2).to(tl.int32)
    else:
        rev = 1 if REVERSE else 0
    f = i_f * BLOCK_F + tl.arange(0, BLOCK_F)  # flat (n, d) index
    n = f // dim
    d = f % dim
    m_f = (n < N) & (d < dim)
    r = tl.arange(0, NSEG_P)
    m_r = r < n_seg
    if rev == 0:
        k = r
        b_A2 = tl.load(p_A + d * s_Ad + n * s_An, mask=m_f, other=0.0)
    else:
        k = n_seg - 1 - r
        b_A2 = tl.load(p_A1 + d * s_A1d + n * s_A1n, mask=m_f, other=0.0)
    b_A2 = b_A2.to(tl.float32) * 1.4426950408889634
    m = m_r[:, None] & m_f[None, :]
    p_slots = p_state + i_bd * (n_seg + 1) * N * dim + f[None, :]
    b_h = tl.load(p_slots + k[:, None] * N * dim, mask=m, other=0.0)  # [S, F]
    b_dts = tl.load(p_dtsum + (i_bd * n_seg + k[:, None]) * dim + d[None, :], mask=m, other=0.0)
    b_decay = tl.where(m, tl.exp2(b_A2[None, :] * b_dts), 1.0)
    _, b_h = tl.associative_scan((b_decay, b_h), axis=0, combine_fn=_combine)
    # state after segment k = state entering the next one in scan order
    tl.store(p_slots + (k[:, None] + 1 - rev) * N * dim, b_h, mask=m)
    tl.store(p_state + i_bd * (n_seg + 1) * N * dim + rev * n_seg * N * dim + f,
             tl.zeros([BLOCK_F], dtype=tl.float32), mask=m_f)
