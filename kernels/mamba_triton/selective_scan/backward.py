"""Triton backward of the selective scan (mamba_ssm semantics, `reverse` included).

Only the forward's inputs are saved; the backward recomputes the states.  Every thread
walks time sequentially, as the forward does (triton_kernels.py): one program owns
BLOCK_D channels of one batch element, one channel a thread, and keeps a channel's N
states as N [BLOCK_D] vectors, so no scan crosses lanes or warps.  (The previous design
cut time into chunks of 32 steps spread over lanes and warps and ran associative scans
across them: ~232 SASS instructions per state element and step, 2.56 ms a call at Vim-Ti
224 px batch 64 on an H100, 25x the forward.)

1. `_checkpoints_kernel` runs the recurrence h_t = a_t h_{t-1} + dt_t B_t u_t
   (a_t = exp(dt_t A)) forward in scan order and stores the state entering every group
   of T steps: hs (batch, n_groups, N, dim), fp32.
2. `_scan_bwd_kernel` walks the groups in the opposite order.  Per group it reloads the
   group's entry state, recomputes the T states forward in registers, then walks the T
   steps backward with the adjoint lam_t = dy_t C_t + a_{t+1} lam_{t+1}, carried between
   steps (and groups) as c = a_t lam_t.  Per (b, d, t, n), with ah = a_t h_{t-1}:
       dC_t    += dy_t h_t               (summed over d)
       dB_t    += lam_t dt_t u_t         (summed over d)
       du_t    += lam_t dt_t B_t
       ddt_t   += lam_t (B_t u_t + A ah)
       dA      += lam_t dt_t ah          (summed over b, t)
   so per state element and step: two exponentials (recompute, then backward), about a
   dozen FMA-pipe instructions, and the two sums over the program's channels (dB, dC)
   as cross-lane reductions.  Sums over the channel blocks (dB, dC) and over the batch
   (dA, dD, ddelta_bias) are written as per-program partials and reduced with torch:
   deterministic, no atomics.

`reverse=True` only changes the map from scan position s to time t (t = L - 1 - s);
the kernels work in scan order throughout.

Memory.  Saved for backward per call (the autograd Function in `autograd.py` keeps only
the inputs, which the caller usually holds anyway), with e the bytes of an element of u:
    3 * batch * dim * L * e   (u, delta, z; 2 without z)
  + 2 * batch * N * L * e_BC  (B, C)
  + 4 * dim * (N + 2)         (A, D, delta_bias in fp32)
For Vim-Ti at 1248 px, batch 128, bf16 (dim 384, N 16, L 6085): 1.79 GB + 0.05 GB.
Autograd through the scan as written in reference.py saves the (batch, dim, L, N) fp32
tensor exp(dt A) and, per step, the state h_{t-1} (operand of a multiplication; h_t, the
operand of the C contraction, is the next step's h_{t-1}): 2 * batch * dim * L * N * 4
bytes plus a few (batch, dim, L) tensors (in all 2.7 * batch * dim * L * N * 4 measured at
N = 16 on a tiny shape; `test_scan_backward.py` counts it with saved-tensor hooks), so
about 8 N / (3 e) times ours: ~21x for N = 16 in bf16, ~38 GB at the shape above.
mamba_ssm's selective_scan_fn saves its inputs plus `out` and its forward's chunk states;
ours saves the inputs only (with `delta_proj_weight`, dt_low (batch, R, L) and W stand
in for delta).

Transient memory of the backward: the checkpoints hs = 4 * batch * dim * N * ceil(L / T)
bytes (1/T of the states; fp32), the dB/dC partials 2 * 4 * batch * ceil(dim / BLOCK_D)
* N * L, and the gradients themselves.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from ..host_math import cdiv, next_power_of_2
from .fused import MAX_SEGMENTS, _carry, _interpreting
from .triton_kernels import _exp2, _load_rows, _log2, _scalar, _scalars

_LOG2E = tl.constexpr(1.4426950408889634)  # exp(x) = exp2(x log2(e))


@triton.jit
def _time_index(s, L, REVERSE: tl.constexpr):
    if REVERSE:
        return L - 1 - s
    else:
        return s


@triton.jit
def _exp2_again(x, FAST: tl.constexpr):
    """exp2(x) recomputed where the same exponential was taken before: the MUFU
    instruction is marked impure, so the compiler cannot reuse the earlier result, which
    would keep T * N exponentials live in registers (and spill) to save one MUFU each."""
    if FAST:
        return tl.inline_asm_elementwise("ex2.approx.ftz.f32 $0, $1;", "=r,r", [x], dtype=tl.float32,
                                         is_pure=False, pack=1)
    else:
        return tl.exp2(x)


@triton.jit
def _softplus_accurate(x, FAST: tl.constexpr):
    """log(1 + e^x) to a few fp32 ulps.  The forward's form (triton_kernels._softplus)
    rounds 1 + e^x first, losing ~eps / e^x of the result: 6e-5 at Vim's typical dt of
    1e-3, which the state gradients then carry.  For e^x < 1/4 an 11-term series of
    log1p (truncation below 3e-8), else x above 20, else the log of 1 + e^x (>= 1.25, so
    its rounding costs < 3e-7)."""
    e = _exp2(x * 1.4426950408889634, FAST)
    series = 0.1 - e * (1.0 / 11.0)  # log1p(e) = e sum_k (-e)^(k-1) / k, Horner from k = 11
    for k in tl.static_range(9, 0, -1):
        series = 1.0 / k - e * series
    big = _log2(1.0 + e, FAST) * 0.6931471805599453
    return tl.where(x > 20.0, x, tl.where(e < 0.25, e * series, big))


@triton.jit
def _load_dt(delta_ptr, bias, t, m, offs_d, s_dl, ACC: tl.constexpr, HAS_BIAS: tl.constexpr,
             SOFTPLUS: tl.constexpr, FAST: tl.constexpr):
    """(dt, dsoftplus) of one step, [BLOCK_D] each: dt = softplus(delta + bias) or
    delta + bias, 0 where the step or channel does not exist (a = 1 and no input: the
    identity step); dsoftplus = d dt / d(delta + bias)."""
    x = tl.load(delta_ptr + t * s_dl + offs_d, mask=m, other=0.0).to(ACC)
    if HAS_BIAS:
        x = x + bias
    if SOFTPLUS:
        dt = _softplus_accurate(x, FAST)
        dsp = tl.where(x > 20.0, 1.0, 1.0 / (1.0 + tl.exp(-x)))
    else:
        dt = x
        dsp = x
    return tl.where(m, dt, 0.0), dsp


@triton.jit
def _step_inputs(u_ptr, delta_ptr, bias, s, L, m_d, o_u, o_dl, s_ul, s_dl, ACC: tl.constexpr,
                 HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr, FAST: tl.constexpr):
    """(t, mask, dt, dsoftplus, u) of scan position s: its time index, the mask of the
    channels that exist there, and the step's inputs, [BLOCK_D] each."""
    t = _time_index(s, L, REVERSE)
    m = m_d & (s < L)
    dt, dsp = _load_dt(delta_ptr, bias, t, m, o_dl, s_dl, ACC, HAS_BIAS, SOFTPLUS, FAST)
    u = tl.load(u_ptr + t * s_ul + o_u, mask=m, other=0.0).to(ACC)
    return t, m, dt, dsp, u


@triton.jit
def _group_rows(p, s_l, s_n, g, L, N: tl.constexpr, NP: tl.constexpr, T: tl.constexpr,
                LOG_TNP: tl.constexpr, REVERSE: tl.constexpr):
    """B or C for the T steps of group g as T * NP fp32 scalars (element i * NP + n; 0 past
    L), loaded as one tile and split through shared memory like the forward's."""
    s0 = g * T
    step = -s_l if REVERSE else s_l
    tile = _load_rows(p + _time_index(s0, L, REVERSE) * s_l, s_n, step, s0 + tl.arange(0, T) < L,
                      N, NP, T, True, 1.0)
    return _scalars(tile, T * NP, LOG_TNP)


@triton.jit
def _channel_sums(vals, NP: tl.constexpr, LOG_NP: tl.constexpr):
    """Sums over the program's channels of a tuple of NP [BLOCK_D] vectors, as one [NP]
    vector in bit-reversed order (element f is the sum of vals[bitreverse(f)]): the
    vectors are stacked with tl.join, which keeps each thread's values in the thread,
    so one reduction with a single cross-warp round serves all NP sums."""
    stack = vals
    for _lv in tl.static_range(LOG_NP):
        pairs = ()
        for q in tl.static_range(len(stack) // 2):
            pairs += (tl.join(stack[2 * q], stack[2 * q + 1]),)
        stack = pairs
    return tl.sum(tl.reshape(stack[0], [stack[0].shape[0], NP]), axis=0)


@triton.jit
def _bit_reversed(NP: tl.constexpr, LOG_NP: tl.constexpr):
    f = tl.arange(0, NP)
    n = tl.zeros([NP], dtype=tl.int32)
    for bit in tl.static_range(LOG_NP):
        n |= ((f >> bit) & 1) << (LOG_NP - 1 - bit)
    return n


@triton.jit
def _program_channels(dim, BLOCK_D: tl.constexpr):
    """(batch index, segment, channels, channel mask) of this program: grid (channel
    blocks, batch, segments)."""
    d = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)
    return tl.program_id(1).to(tl.int64), tl.program_id(2), d, d < dim


@triton.jit
def _load_A2(A_ptr, d, m_d, s_Ad, s_An, N: tl.constexpr, ACC: tl.constexpr):
    """A log2(e) as N [BLOCK_D] vectors: exp(dt A) = exp2(dt A2)."""
    A2 = ()
    for n in tl.static_range(N):
        A2 += (tl.load(A_ptr + d * s_Ad + n * s_An, mask=m_d, other=0.0).to(ACC) * _LOG2E,)
    return A2

@triton.jit
def _recurrence_inputs(b, d, m_d, u_ptr, s_ub, s_ud, delta_ptr, s_db, s_dd, B_ptr, s_Bb, bias_ptr, A_ptr,
                       s_Ad, s_An, N: tl.constexpr, ACC: tl.constexpr, HAS_BIAS: tl.constexpr):
    """What every backward pass needs to rerun the state recurrence of batch row b: u,
    delta and B at that row, the channels' offsets into u and delta, delta_bias (None
    without) and A log2(e)."""
    bias = tl.load(bias_ptr + d, mask=m_d, other=0.0).to(ACC) if HAS_BIAS else None
    return (u_ptr + b * s_ub, delta_ptr + b * s_db, B_ptr + b * s_Bb, d * s_ud, d * s_dd, bias,
            _load_A2(A_ptr, d, m_d, s_Ad, s_An, N, ACC))


@triton.jit
def _adjoint_inputs(b, C_ptr, s_Cb, z_ptr, s_zb, dout_ptr, s_gb):
    """C, z and the incoming gradient at batch row b: what the adjoint recurrence reads
    besides the state's inputs."""
    return C_ptr + b * s_Cb, z_ptr + b * s_zb, dout_ptr + b * s_gb



@triton.jit
def _load_dy(dout_ptr, z_ptr, t, m, o_g, o_z, s_gl, s_zl, scale, ACC: tl.constexpr, HAS_Z: tl.constexpr):
    """(g, dy) of one step: g = dout * scale, dy = g silu(z) (the gradient reaching
    y = C h + D u), [BLOCK_D] each."""
    gr = tl.load(dout_ptr + t * s_gl + o_g, mask=m, other=0.0).to(ACC) * scale
    dy = gr
    if HAS_Z:
        zt = tl.load(z_ptr + t * s_zl + o_z, mask=m, other=0.0).to(ACC)
        dy = gr * zt / (1.0 + tl.exp(-zt))
    return gr, dy


@triton.jit
def _forward_group(h, dt_sum, g, u_ptr, delta_ptr, B_ptr, bias, A2, o_u, o_dl, m_d, L, s_ul, s_dl, s_Bn, s_Bl,
                   N: tl.constexpr, NP: tl.constexpr, T: tl.constexpr, LOG_TNP: tl.constexpr,
                   HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr, ACC: tl.constexpr,
                   FAST: tl.constexpr):
    """The states h (tuple of N [BLOCK_D]) after the T steps of group g, and dt_sum + their dt."""
    Bs = _group_rows(B_ptr, s_Bl, s_Bn, g, L, N, NP, T, LOG_TNP, REVERSE)
    for i in tl.static_range(T):
        _, _, dt, _, u = _step_inputs(u_ptr, delta_ptr, bias, g * T + i, L, m_d, o_u, o_dl, s_ul, s_dl,
                                      ACC, HAS_BIAS, SOFTPLUS, REVERSE, FAST)
        dtu = dt * u
        dt_sum += dt
        nxt = ()
        for n in tl.static_range(N):
            nxt += (h[n] * _exp2(A2[n] * dt, FAST) + _scalar(Bs, i * NP + n) * dtu,)
        h = nxt
    return h, dt_sum


@triton.jit
def _segment_ends_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, bias_ptr, z_ptr, dout_ptr, state_ptr, adj_ptr, dtsum_ptr,
    L, dim, n_groups, groups_per_seg, n_seg, scale,
    s_ub, s_ud, s_ul, s_db, s_dd, s_dl, s_Ad, s_An, s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
    s_zb, s_zd, s_zl, s_gb, s_gd, s_gl,
    N: tl.constexpr, NP: tl.constexpr, T: tl.constexpr, LOG_TNP: tl.constexpr, BLOCK_D: tl.constexpr,
    HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr,
    ACC: tl.constexpr, FAST: tl.constexpr,
):
    """Pass 1 of the time-parallel backward, one program per (channel block, batch, segment),
    both recurrences run over the segment alone from zero: the state h at its end (into
    state[b, seg]), the adjoint carry c = a_t lam_t at its first step (into adj[b, seg]),
    and its sum of dt (dtsum[b, seg]).  Both are affine in what enters the segment with the
    same factor exp(A sum dt), so the forward's `_carry_kernel` chains the segments."""
    b, seg, d, m_d = _program_channels(dim, BLOCK_D)
    u_ptr, delta_ptr, B_ptr, o_u, o_dl, bias, A2 = _recurrence_inputs(
        b, d, m_d, u_ptr, s_ub, s_ud, delta_ptr, s_db, s_dd, B_ptr, s_Bb, bias_ptr, A_ptr, s_Ad, s_An, N, ACC, HAS_BIAS)
    C_ptr, z_ptr, dout_ptr = _adjoint_inputs(b, C_ptr, s_Cb, z_ptr, s_zb, dout_ptr, s_gb)
    h = ()
    c = ()
    zero = tl.zeros([BLOCK_D], dtype=ACC)
    for _n in tl.static_range(N):
        h += (zero,)
        c += (zero,)
    g_first = seg * groups_per_seg
    g_end = tl.minimum(g_first + groups_per_seg, n_groups)
    dt_sum = zero
    for g in range(g_first, g_end):
        h, dt_sum = _forward_group(h, dt_sum, g, u_ptr, delta_ptr, B_ptr, bias, A2, o_u, o_dl, m_d, L, s_ul, s_dl,
                                   s_Bn, s_Bl, N, NP, T, LOG_TNP, HAS_BIAS, SOFTPLUS, REVERSE, ACC, FAST)
    for gg in range(g_first, g_end):
        g = g_end - 1 - (gg - g_first)
        Cs = _group_rows(C_ptr, s_Cl, s_Cn, g, L, N, NP, T, LOG_TNP, REVERSE)
        for i in tl.static_range(T - 1, -1, -1):
            s = g * T + i
            t = _time_index(s, L, REVERSE)
            m = m_d & (s < L)
            dt, _ = _load_dt(delta_ptr, bias, t, m, o_dl, s_dl, ACC, HAS_BIAS, SOFTPLUS, FAST)
            _, dy = _load_dy(dout_ptr, z_ptr, t, m, d * s_gd, d * s_zd, s_gl, s_zl, scale, ACC, HAS_Z)
            nxt = ()
            for n in tl.static_range(N):
                nxt += (_exp2(A2[n] * dt, FAST) * (c[n] + dy * _scalar(Cs, i * NP + n)),)
            c = nxt
    slot = (b * (n_seg + 1) + seg) * N * dim
    for n in tl.static_range(N):
        tl.store(state_ptr + slot + n * dim + d, h[n], mask=m_d)
        tl.store(adj_ptr + slot + n * dim + d, c[n], mask=m_d)
    tl.store(dtsum_ptr + (b * n_seg + seg) * dim + d, dt_sum, mask=m_d)


@triton.jit
def _checkpoints_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, bias_ptr, hs_ptr, state_ptr,
    L, dim, n_groups, groups_per_seg, n_seg,
    s_ub, s_ud, s_ul, s_db, s_dd, s_dl, s_Ad, s_An, s_Bb, s_Bn, s_Bl, s_hb, s_hg,
    N: tl.constexpr, NP: tl.constexpr, T: tl.constexpr, LOG_TNP: tl.constexpr, BLOCK_D: tl.constexpr,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr, ACC: tl.constexpr,
    FAST: tl.constexpr, SEGMENTS: tl.constexpr,
):
    """The state entering every group of the program's segment (the whole sequence unless
    SEGMENTS), from the carried-in state[b, seg] (zero without SEGMENTS)."""
    b, seg, d, m_d = _program_channels(dim, BLOCK_D)
    u_ptr, delta_ptr, B_ptr, o_u, o_dl, bias, A2 = _recurrence_inputs(
        b, d, m_d, u_ptr, s_ub, s_ud, delta_ptr, s_db, s_dd, B_ptr, s_Bb, bias_ptr, A_ptr, s_Ad, s_An, N, ACC, HAS_BIAS)
    hs_ptr += b * s_hb
    h = ()
    for n in tl.static_range(N):
        if SEGMENTS:
            h += (tl.load(state_ptr + ((b * (n_seg + 1) + seg) * N + n) * dim + d, mask=m_d, other=0.0),)
        else:
            h += (tl.zeros([BLOCK_D], dtype=ACC),)
    g_first = seg * groups_per_seg
    dt_sum = tl.zeros([BLOCK_D], dtype=ACC)
    for g in range(g_first, tl.minimum(g_first + groups_per_seg, n_groups)):
        # hs[b, g, n, d] (d contiguous): the state entering group g
        for n in tl.static_range(N):
            tl.store(hs_ptr + g * s_hg + n * dim + d, h[n], mask=m_d)
        h, dt_sum = _forward_group(h, dt_sum, g, u_ptr, delta_ptr, B_ptr, bias, A2, o_u, o_dl, m_d, L, s_ul, s_dl,
                                   s_Bn, s_Bl, N, NP, T, LOG_TNP, HAS_BIAS, SOFTPLUS, REVERSE, ACC, FAST)


@triton.jit
def _scan_bwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, z_ptr, dout_ptr, hs_ptr, adj_ptr,
    du_ptr, ddelta_ptr, dz_ptr, dB_ptr, dC_ptr, dA_ptr, dD_ptr, dbias_ptr,
    L, dim, n_groups, groups_per_seg, n_seg, scale,
    s_ub, s_ud, s_ul, s_db, s_dd, s_dl, s_Ad, s_An, s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
    s_zb, s_zd, s_zl, s_gb, s_gd, s_gl, s_hb, s_hg,
    s_dub, s_dud, s_dul, s_ddb, s_ddd, s_ddl, s_dzb, s_dzd, s_dzl,
    s_pb, s_pk, s_pn,  # dB / dC partials (batch, channel block, N, L), L contiguous
    N: tl.constexpr, NP: tl.constexpr, LOG_NP: tl.constexpr, T: tl.constexpr, LOG_TNP: tl.constexpr,
    BLOCK_D: tl.constexpr, HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr,
    SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr, ACC: tl.constexpr, FAST: tl.constexpr,
    FOLD: tl.constexpr, SEGMENTS: tl.constexpr,
):
    b, seg, d, m_d = _program_channels(dim, BLOCK_D)
    u_ptr, delta_ptr, B_ptr, o_u, o_dl, bias, A2 = _recurrence_inputs(
        b, d, m_d, u_ptr, s_ub, s_ud, delta_ptr, s_db, s_dd, B_ptr, s_Bb, bias_ptr, A_ptr, s_Ad, s_An, N, ACC, HAS_BIAS)
    C_ptr, z_ptr, dout_ptr = _adjoint_inputs(b, C_ptr, s_Cb, z_ptr, s_zb, dout_ptr, s_gb)
    hs_ptr += b * s_hb
    du_ptr += b * s_dub
    ddelta_ptr += b * s_ddb
    dz_ptr += b * s_dzb
    dB_ptr += b * s_pb + tl.program_id(0) * s_pk
    dC_ptr += b * s_pb + tl.program_id(0) * s_pk
    o_z = d * s_zd
    o_g = d * s_gd
    Dv = tl.load(D_ptr + d, mask=m_d, other=0.0).to(ACC) if HAS_D else None
    n_rev = _bit_reversed(NP, LOG_NP)  # the state of each element of a _channel_sums vector
    c = ()  # a_{t+1} lam_{t+1}: the adjoint's carry into step t
    dA_total = ()  # sum over t of lam dt a h_{t-1}, the gradient of A
    zero = tl.zeros([BLOCK_D], dtype=ACC)
    for n in tl.static_range(N):
        if SEGMENTS:
            # adj[b, seg + 1]: the carry entering from the later segments (0 after the last)
            c += (tl.load(adj_ptr + ((b * (n_seg + 1) + seg + 1) * N + n) * dim + d, mask=m_d, other=0.0),)
        else:
            c += (zero,)
        dA_total += (zero,)
    dD_total = zero
    dbias_total = zero
    # Sums over time in two levels (blocks of FOLD groups, then the blocks): fp32 rounding
    # then grows with ~FOLD T + L / (FOLD T) terms rather than L (a 4097-step sequence put
    # ddelta_bias 5e-5 off float64 with one running sum).
    g_first = seg * groups_per_seg
    g_end = tl.minimum(g_first + groups_per_seg, n_groups)
    for first in range(0, g_end - g_first, FOLD):
        dA = ()
        for _n in tl.static_range(N):
            dA += (zero,)
        dD = zero
        dbias = zero
        for gg in range(first, tl.minimum(first + FOLD, g_end - g_first)):
            g = g_end - 1 - gg
            # the group's inputs, and its T states recomputed forward from the stored entry state
            h0 = ()
            for n in tl.static_range(N):
                h0 += (tl.load(hs_ptr + g * s_hg + n * dim + d, mask=m_d, other=0.0),)
            dts = ()
            dsps = ()
            us = ()
            gs = ()
            dys = ()
            ys = ()
            Bs = _group_rows(B_ptr, s_Bl, s_Bn, g, L, N, NP, T, LOG_TNP, REVERSE)
            Cs = _group_rows(C_ptr, s_Cl, s_Cn, g, L, N, NP, T, LOG_TNP, REVERSE)
            hs = ()  # hs[i * N + n]: the state after step i
            prev = h0
            for i in tl.static_range(T):
                t, m, dt, dsp, u = _step_inputs(u_ptr, delta_ptr, bias, g * T + i, L, m_d, o_u, o_dl, s_ul, s_dl,
                                                ACC, HAS_BIAS, SOFTPLUS, REVERSE, FAST)
                gr, dy = _load_dy(dout_ptr, z_ptr, t, m, o_g, o_z, s_gl, s_zl, scale, ACC, HAS_Z)
                dtu = dt * u
                y = zero
                cur = ()
                for n in tl.static_range(N):
                    hn = prev[n] * _exp2(A2[n] * dt, FAST) + _scalar(Bs, i * NP + n) * dtu
                    cur += (hn,)
                    if HAS_Z:
                        y += _scalar(Cs, i * NP + n) * hn
                if HAS_Z:
                    if HAS_D:
                        y += Dv * u
                    ys += (y,)
                prev = cur
                hs += cur
                dts += (dt,)
                dsps += (dsp,)
                us += (u,)
                gs += (gr,)
                dys += (dy,)
            # backward over the group's steps
            for i in tl.static_range(T - 1, -1, -1):
                s = g * T + i
                t = _time_index(s, L, REVERSE)
                m = m_d & (s < L)
                dt = dts[i]
                dtu = dt * us[i]
                dy = dys[i]
                s1 = zero  # sum_n lam B
                s2 = zero  # sum_n lam A2 a h_{t-1}
                c_next = ()
                dA_next = ()
                dC_terms = ()
                dB_terms = ()
                for n in tl.static_range(N):
                    lam = c[n] + dy * _scalar(Cs, i * NP + n)
                    a = _exp2_again(A2[n] * dt, FAST)
                    if i > 0:
                        ah = a * hs[(i - 1) * N + n]
                    else:
                        ah = a * h0[n]
                    c_next += (a * lam,)
                    q = lam * ah
                    s2 += A2[n] * q
                    dA_next += (dA[n] + dt * q,)
                    s1 += lam * _scalar(Bs, i * NP + n)
                    dC_terms += (dy * hs[i * N + n],)
                    dB_terms += (lam * dtu,)
                for _n in tl.static_range(N, NP):  # padding states: zero sums
                    dC_terms += (zero,)
                    dB_terms += (zero,)
                c = c_next
                dA = dA_next
                ok_n = (s < L) & (n_rev < N)
                tl.store(dC_ptr + n_rev * s_pn + t, _channel_sums(dC_terms, NP, LOG_NP), mask=ok_n)
                tl.store(dB_ptr + n_rev * s_pn + t, _channel_sums(dB_terms, NP, LOG_NP), mask=ok_n)
                ddt = s1 * us[i] + s2 * 0.6931471805599453  # A2 ln(2) = A
                du = dt * s1
                if HAS_D:
                    du += Dv * dy
                    dD += dy * us[i]
                if SOFTPLUS:
                    ddt = ddt * dsps[i]
                ddt = tl.where(m, ddt, 0.0)
                dbias += ddt
                tl.store(du_ptr + t * s_dul + d * s_dud, du, mask=m)
                tl.store(ddelta_ptr + t * s_ddl + d * s_ddd, ddt, mask=m)
                if HAS_Z:
                    zt = tl.load(z_ptr + t * s_zl + o_z, mask=m, other=0.0).to(ACC)
                    sig = 1.0 / (1.0 + tl.exp(-zt))
                    dz = gs[i] * ys[i] * sig * (1.0 + zt * (1.0 - sig))
                    tl.store(dz_ptr + t * s_dzl + d * s_dzd, dz, mask=m)
        dA_sum = ()
        for n in tl.static_range(N):
            dA_sum += (dA_total[n] + dA[n],)
        dA_total = dA_sum
        dD_total += dD
        dbias_total += dbias
    # per-(batch, segment) partials, row-major (batch * n_seg, N, dim) and (batch * n_seg, dim)
    row = b * n_seg + seg
    for n in tl.static_range(N):
        tl.store(dA_ptr + row * N * dim + n * dim + d, dA_total[n], mask=m_d)
    if HAS_D:
        tl.store(dD_ptr + row * dim + d, dD_total, mask=m_d)
    if HAS_BIAS:
        tl.store(dbias_ptr + row * dim + d, dbias_total, mask=m_d)


def _strides3(x):
    return (x.stride(0), x.stride(1), x.stride(2))


def default_tiling(batch, dim, L, N):
    """(T, BLOCK_D, num_warps) for a shape: one channel a thread, one warp a program, and
    T = 2 steps a group.  The group's T * N states of a channel and its 2 T N B/C scalars
    stay in registers: at N = 16, T = 4 spills (sm_90 static: 255 registers, ~200 spill
    instructions), and a B/C tile of fewer elements (T N) than threads is loaded by every
    thread (2 warps at T = 2: 2.8 global loads per state element instead of 0.9)."""
    return 2, min(32, max(2, next_power_of_2(dim))), 1


def default_segments(batch, dim, L, block_d, *, sms=132, resident=8):
    """Time segments scanned in parallel, chosen by waves: the backward's programs (one
    warp, 255 registers: `resident` = 8 an SM) run in waves of sms * resident, and a
    wave lasts as long as a segment, so the time goes as waves(s) * ceil(L / s) for s
    segments of at least 256 steps (at most fused.MAX_SEGMENTS); ties go to fewer
    segments (each costs a carry and per-segment partial sums).  More than one segment
    adds a pass that runs both recurrences from zero (about a third of the backward's
    work), which pays while the programs fill under one wave.  H100, one direction
    (reports/train-h100/scan_backward_segment_counts.md): 1024 px batch 16 ran 2.66 ms at
    11 segments (2 full waves), 3.1 at 12 (2.2 waves); 768 px batch 32 2.88 ms at 8, 3.48
    at 6."""
    programs = batch * cdiv(dim, block_d)
    slots = sms * resident
    if programs >= slots:
        return 1
    cost = lambda s: cdiv(programs * s, slots) * cdiv(L, s)
    return min(range(1, max(1, min(L // 256, MAX_SEGMENTS)) + 1), key=cost)


def selective_scan_bwd(dout, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       reverse=False, *, scale=1.0, checkpoint=None, block_d=None, num_warps=None, fold=32,
                       segments=None):
    """Gradients of `scale * selective_scan(...)` (the forward's semantics, reference.py)
    given dout = dLoss/dout.  Returns (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias), None
    for an input that is None; each gradient has its input's dtype (dA, dD, ddelta_bias:
    their input's dtype too, summed in fp32 or fp64).  Computes in float64 when u is
    float64, else float32.  `checkpoint` (T, steps between stored states, a power of two),
    `block_d` and `num_warps` override `default_tiling`; sums over time are formed in blocks
    of `fold` groups; `segments` overrides `default_segments` (float64 runs one segment:
    the carry kernel chains segments in fp32)."""
    batch, dim, L = u.shape
    N = A.shape[1]
    acc_torch = torch.float64 if u.dtype == torch.float64 else torch.float32
    acc = tl.float64 if acc_torch == torch.float64 else tl.float32
    T, BD, warps = default_tiling(batch, dim, L, N)
    T = checkpoint or T
    if T & (T - 1):
        raise ValueError(f"checkpoint={T}: the steps between stored states must be a power of two")
    BD = block_d or BD
    num_warps = num_warps or warps
    NP = next_power_of_2(N)
    log2 = lambda x: x.bit_length() - 1
    n_groups = max(1, cdiv(L, T))
    n_seg = 1 if acc_torch == torch.float64 else (segments or default_segments(batch, dim, L, BD))
    if not 1 <= n_seg <= MAX_SEGMENTS:
        raise ValueError(f"segments={n_seg}: between 1 and {MAX_SEGMENTS}")
    groups_per_seg = cdiv(n_groups, n_seg)
    n_seg = cdiv(n_groups, groups_per_seg)
    n_dblk = cdiv(dim, BD)
    dev = u.device
    du = torch.empty_like(u)
    ddelta = torch.empty_like(delta)
    dz = torch.empty_like(z) if z is not None else None
    dA = torch.zeros(batch * n_seg, N, dim, dtype=acc_torch, device=dev)
    dD = torch.zeros(batch * n_seg, dim, dtype=acc_torch, device=dev)
    dbias = torch.zeros(batch * n_seg, dim, dtype=acc_torch, device=dev)
    dB = torch.zeros(batch, n_dblk, N, L, dtype=acc_torch, device=dev)
    dC = torch.zeros(batch, n_dblk, N, L, dtype=acc_torch, device=dev)
    if batch and dim and L:
        hs = torch.empty(batch, n_groups, N, dim, dtype=acc_torch, device=dev)
        bias = delta_bias if delta_bias is not None else A
        zz = z if z is not None else u
        dzz = dz if dz is not None else du
        grid = (n_dblk, batch, n_seg)
        flags = dict(N=N, NP=NP, T=T, LOG_TNP=log2(T * NP), BLOCK_D=BD, HAS_BIAS=delta_bias is not None,
                     SOFTPLUS=bool(delta_softplus), REVERSE=bool(reverse), ACC=acc,
                     FAST=acc_torch == torch.float32 and not _interpreting())
        state = adj = hs  # unused without segments
        if n_seg > 1:
            state = torch.zeros(batch, n_seg + 1, N, dim, dtype=torch.float32, device=dev)
            adj = torch.zeros_like(state)
            dtsum = torch.zeros(batch, n_seg, dim, dtype=torch.float32, device=dev)
            _segment_ends_kernel[grid](
                u, delta, A, B, C, bias, zz, dout, state, adj, dtsum, L, dim, n_groups, groups_per_seg, n_seg,
                float(scale), *_strides3(u), *_strides3(delta), A.stride(0), A.stride(1), *_strides3(B),
                *_strides3(C), *_strides3(zz), *_strides3(dout), HAS_Z=z is not None, num_warps=num_warps, **flags)
            # the states entering each segment (scan order), and the adjoint carries entering
            # each from the later ones (the same chain run from the last segment)
            _carry(state, dtsum, A, A, dim, N, n_seg, ndir=1, reverse=False)
            _carry(adj, dtsum, A, A, dim, N, n_seg, ndir=1, reverse=True)
        _checkpoints_kernel[grid](
            u, delta, A, B, bias, hs, state, L, dim, n_groups, groups_per_seg, n_seg,
            *_strides3(u), *_strides3(delta), A.stride(0), A.stride(1), *_strides3(B),
            hs.stride(0), hs.stride(1), SEGMENTS=n_seg > 1, num_warps=num_warps, **flags)
        _scan_bwd_kernel[grid](
            u, delta, A, B, C, D if D is not None else A, bias, zz, dout, hs, adj,
            du, ddelta, dzz, dB, dC, dA, dD, dbias,
            L, dim, n_groups, groups_per_seg, n_seg, float(scale),
            *_strides3(u), *_strides3(delta), A.stride(0), A.stride(1), *_strides3(B), *_strides3(C),
            *_strides3(zz), *_strides3(dout), hs.stride(0), hs.stride(1),
            *_strides3(du), *_strides3(ddelta), *_strides3(dzz), *dB.stride()[:3],
            LOG_NP=log2(NP), FOLD=fold, SEGMENTS=n_seg > 1, HAS_D=D is not None, HAS_Z=z is not None,
            num_warps=num_warps, **flags)
    else:
        du.zero_()
        ddelta.zero_()
        if dz is not None:
            dz.zero_()
    return (du, ddelta, dA.sum(0).t().to(A.dtype), dB.sum(1).to(B.dtype), dC.sum(1).to(C.dtype),
            dD.sum(0).to(D.dtype) if D is not None else None, dz,
            dbias.sum(0).to(delta_bias.dtype) if delta_bias is not None else None)
