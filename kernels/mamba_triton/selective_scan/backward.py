"""Triton backward of the selective scan (mamba_ssm semantics, `reverse` included).

Only the forward's inputs are saved; the backward recomputes the states in two kernels,
each one program per (batch, channel block), with time cut into chunks of K steps:

1. `_chunk_states_kernel` walks the chunks in scan order and stores the state entering
   each chunk, hs (batch, n_chunks, N, dim).  A chunk's end state needs no scan:
   h_end = exp(A sum dt) h_0 + sum_t exp(A (sum dt - cumsum_t dt)) dt_t B_t u_t, every
   exponent <= 0 (A < 0, dt >= 0), so it cannot overflow.
2. `_scan_bwd_kernel` walks the chunks in the opposite order.  Per chunk and state n it
   rebuilds the chunk's states h_t from hs with an associative scan over the [K, BLOCK_D]
   tile, then the adjoint lam_t = dy_t C_t + a_{t+1} lam_{t+1} (a_t = exp(dt_t A)) with
   a forward associative scan over the chunk's rows loaded in reverse order (flipped back
   with tl.flip), continuing from the adjoint carried in from the later chunk.  With lam and h, per (b, d, t, n):
       dC_t    += dy_t h_t               (summed over d)
       dB_t    += lam_t dt_t u_t         (summed over d)
       du_t    += lam_t dt_t B_t
       ddt_t   += lam_t (B_t u_t + A a_t h_{t-1})
       dA      += lam_t dt_t a_t h_{t-1} (summed over b, t)
   where a_t h_{t-1} = h_t - dt_t B_t u_t (no shifted tile of states is needed; the
   difference loses only ~eps |dt B u| absolute, which ddt sees scaled by |A dt|).
   a_{t+1} comes from a second delta tile loaded one step further in scan order.
   Sums over d (dB, dC) and over b (dA, dD, ddelta_bias) are written as per-program
   partials and reduced with torch: deterministic, no atomics.

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

Transient memory of the backward: hs = 4 * batch * dim * N * ceil(L / K) bytes (1/K of
the states; fp32), the dB/dC partials 2 * 4 * batch * ceil(dim / BLOCK_D) * N * L, and
the gradients themselves.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl


@triton.jit
def _affine_combine(a1, b1, a2, b2):
    # x -> a1 x + b1 followed by x -> a2 x + b2 (the later step second)
    return a1 * a2, a2 * b1 + b2


@triton.jit
def _softplus(x):
    # mamba's threshold: softplus(x) = x above 20
    return tl.where(x > 20.0, x, tl.log(1.0 + tl.exp(x)))


@triton.jit
def _time_index(s, L, REVERSE: tl.constexpr):
    if REVERSE:
        return L - 1 - s
    else:
        return s


@triton.jit
def _load_dt(delta_ptr, bias, t, valid, d, dmask, s_dl, s_dd, ACC: tl.constexpr,
             HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr):
    """(x, dt) tiles [K, BLOCK_D]: x = delta + bias, dt = softplus(x) or x; dt = 0 where
    the step does not exist (a = 1 and no input: the step is the identity)."""
    m = valid[:, None] & dmask[None, :]
    x = tl.load(delta_ptr + t[:, None] * s_dl + d[None, :] * s_dd, mask=m, other=0.0).to(ACC)
    if HAS_BIAS:
        x = x + bias[None, :]
    dt = _softplus(x) if SOFTPLUS else x
    return x, tl.where(m, dt, 0.0)


@triton.jit
def _gate_grad(g, z_ptr, t, m, d, s_zl, s_zd, ACC: tl.constexpr, HAS_Z: tl.constexpr):
    """(dy, sigmoid(z), z): the gradient reaching y = sum_n C h + D u through out = y silu(z)."""
    if HAS_Z:
        zt = tl.load(z_ptr + t[:, None] * s_zl + d[None, :] * s_zd, mask=m, other=0.0).to(ACC)
        sig = 1.0 / (1.0 + tl.exp(-zt))
        return g * zt * sig, sig, zt
    else:
        return g, g, g


@triton.jit
def _chunk_states_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, bias_ptr, hs_ptr,
    L, dim, n_chunks,
    s_ub, s_ud, s_ul, s_db, s_dd, s_dl, s_Ad, s_An, s_Bb, s_Bn, s_Bl,
    s_hb, s_hc, s_hn, s_hd,
    N: tl.constexpr, NP: tl.constexpr, K: tl.constexpr, BLOCK_D: tl.constexpr,
    HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr, REVERSE: tl.constexpr, ACC: tl.constexpr,
):
    pid_d = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    dmask = d < dim
    k = tl.arange(0, K)
    rows = tl.arange(0, NP)[:, None]
    u_ptr += b * s_ub
    delta_ptr += b * s_db
    B_ptr += b * s_Bb
    hs_ptr += b * s_hb
    bias = tl.load(bias_ptr + d, mask=dmask, other=0.0).to(ACC) if HAS_BIAS else None
    h = tl.zeros([NP, BLOCK_D], dtype=ACC)  # the states entering chunk c, row n = state n
    for c in range(n_chunks):
        tl.store(hs_ptr + c * s_hc + rows * s_hn + d[None, :] * s_hd, h, mask=(rows < N) & dmask[None, :])
        s = c * K + k
        valid = s < L
        t = _time_index(s, L, REVERSE)
        _, dt = _load_dt(delta_ptr, bias, t, valid, d, dmask, s_dl, s_dd, ACC, HAS_BIAS, SOFTPLUS)
        u = tl.load(u_ptr + t[:, None] * s_ul + d[None, :] * s_ud, mask=valid[:, None] & dmask[None, :],
                    other=0.0).to(ACC)
        cum = tl.cumsum(dt, axis=0)
        total = tl.sum(dt, axis=0)
        for n in range(N):
            A_n = tl.load(A_ptr + d * s_Ad + n * s_An, mask=dmask, other=0.0).to(ACC)
            B_n = tl.load(B_ptr + n * s_Bn + t * s_Bl, mask=valid, other=0.0).to(ACC)
            tail = tl.exp((total[None, :] - cum) * A_n[None, :])  # decay from step t to the chunk end
            h_n = tl.sum(tl.where(rows == n, h, 0.0), axis=0)
            h_end = tl.exp(total * A_n) * h_n + tl.sum(tail * dt * B_n[:, None] * u, axis=0)
            h = tl.where(rows == n, h_end[None, :], h)


@triton.jit
def _scan_bwd_kernel(
    u_ptr, delta_ptr, A_ptr, B_ptr, C_ptr, D_ptr, bias_ptr, z_ptr, dout_ptr, hs_ptr,
    du_ptr, ddelta_ptr, dz_ptr, dB_ptr, dC_ptr, dA_ptr, dD_ptr, dbias_ptr,
    L, dim, n_chunks, scale,
    s_ub, s_ud, s_ul, s_db, s_dd, s_dl, s_Ad, s_An, s_Bb, s_Bn, s_Bl, s_Cb, s_Cn, s_Cl,
    s_zb, s_zd, s_zl, s_gb, s_gd, s_gl, s_hb, s_hc, s_hn, s_hd,
    s_dub, s_dud, s_dul, s_ddb, s_ddd, s_ddl, s_dzb, s_dzd, s_dzl,
    s_pb, s_pk, s_pn, s_pl,  # dB / dC partials (batch, channel block, N, L)
    N: tl.constexpr, NP: tl.constexpr, K: tl.constexpr, BLOCK_D: tl.constexpr,
    HAS_D: tl.constexpr, HAS_Z: tl.constexpr, HAS_BIAS: tl.constexpr, SOFTPLUS: tl.constexpr,
    REVERSE: tl.constexpr, ACC: tl.constexpr,
):
    pid_d = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    d = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    dmask = d < dim
    k = tl.arange(0, K)
    rows = tl.arange(0, NP)[:, None]
    u_ptr += b * s_ub
    delta_ptr += b * s_db
    B_ptr += b * s_Bb
    C_ptr += b * s_Cb
    z_ptr += b * s_zb
    dout_ptr += b * s_gb
    hs_ptr += b * s_hb
    du_ptr += b * s_dub
    ddelta_ptr += b * s_ddb
    dz_ptr += b * s_dzb
    dB_ptr += b * s_pb + pid_d * s_pk
    dC_ptr += b * s_pb + pid_d * s_pk
    bias = tl.load(bias_ptr + d, mask=dmask, other=0.0).to(ACC) if HAS_BIAS else None
    Dv = tl.load(D_ptr + d, mask=dmask, other=0.0).to(ACC) if HAS_D else None
    lam = tl.zeros([NP, BLOCK_D], dtype=ACC)  # adjoint at the first step of the later chunk
    dA = tl.zeros([NP, BLOCK_D], dtype=ACC)
    dD = tl.zeros([BLOCK_D], dtype=ACC)
    dbias = tl.zeros([BLOCK_D], dtype=ACC)
    for cc in range(n_chunks):
        c = n_chunks - 1 - cc
        s = c * K + k
        valid = s < L
        t = _time_index(s, L, REVERSE)
        m = valid[:, None] & dmask[None, :]
        x, dt = _load_dt(delta_ptr, bias, t, valid, d, dmask, s_dl, s_dd, ACC, HAS_BIAS, SOFTPLUS)
        u = tl.load(u_ptr + t[:, None] * s_ul + d[None, :] * s_ud, mask=m, other=0.0).to(ACC)
        g = tl.load(dout_ptr + t[:, None] * s_gl + d[None, :] * s_gd, mask=m, other=0.0).to(ACC) * scale
        dy, sig, zt = _gate_grad(g, z_ptr, t, m, d, s_zl, s_zd, ACC, HAS_Z)
        # The adjoint runs from the chunk's end: its tiles are loaded with rows in reverse
        # (row r = scan position c K + K - 1 - r) and scanned forward.  (tl.associative_scan's
        # reverse=True is avoided: triton-lang/triton#4362 reports wrong results with it for
        # a non-commutative combine like this one.)
        s_r = c * K + (K - 1 - k)
        valid_r = s_r < L
        t_r = _time_index(s_r, L, REVERSE)
        m_r = valid_r[:, None] & dmask[None, :]
        _, dt_next_r = _load_dt(delta_ptr, bias, _time_index(s_r + 1, L, REVERSE), s_r + 1 < L, d, dmask,
                                s_dl, s_dd, ACC, HAS_BIAS, SOFTPLUS)
        g_r = tl.load(dout_ptr + t_r[:, None] * s_gl + d[None, :] * s_gd, mask=m_r, other=0.0).to(ACC) * scale
        dy_r, _, _ = _gate_grad(g_r, z_ptr, t_r, m_r, d, s_zl, s_zd, ACC, HAS_Z)
        y = tl.zeros([K, BLOCK_D], dtype=ACC)
        du = tl.zeros([K, BLOCK_D], dtype=ACC)
        ddt = tl.zeros([K, BLOCK_D], dtype=ACC)
        for n in range(N):
            A_n = tl.load(A_ptr + d * s_Ad + n * s_An, mask=dmask, other=0.0).to(ACC)
            B_n = tl.load(B_ptr + n * s_Bn + t * s_Bl, mask=valid, other=0.0).to(ACC)[:, None]
            C_n = tl.load(C_ptr + n * s_Cn + t * s_Cl, mask=valid, other=0.0).to(ACC)[:, None]
            h0 = tl.load(hs_ptr + c * s_hc + n * s_hn + d * s_hd, mask=dmask, other=0.0)
            bu = B_n * u
            bx = dt * bu
            P, S = tl.associative_scan((tl.exp(dt * A_n[None, :]), bx), 0, _affine_combine)
            h = P * h0[None, :] + S
            y += C_n * h
            # lam_t = dy_t C_t + a_{t+1} lam_{t+1}: the same affine map, rows in reverse
            C_r = tl.load(C_ptr + n * s_Cn + t_r * s_Cl, mask=valid_r, other=0.0).to(ACC)[:, None]
            Q, V = tl.associative_scan((tl.exp(dt_next_r * A_n[None, :]), dy_r * C_r), 0, _affine_combine)
            lam_n = tl.sum(tl.where(rows == n, lam, 0.0), axis=0)
            lt = tl.flip(V + Q * lam_n[None, :], 0)
            ah = h - bx  # a_t h_{t-1}
            lam_dt = lt * dt
            tl.store(dC_ptr + n * s_pn + t * s_pl, tl.sum(dy * h, axis=1), mask=valid)
            tl.store(dB_ptr + n * s_pn + t * s_pl, tl.sum(lam_dt * u, axis=1), mask=valid)
            du += lam_dt * B_n
            ddt += lt * (bu + A_n[None, :] * ah)
            dA = tl.where(rows == n, dA + tl.sum(lam_dt * ah, axis=0)[None, :], dA)
            lam_first = tl.sum(tl.where(k[:, None] == 0, lt, 0.0), axis=0)
            lam = tl.where(rows == n, lam_first[None, :], lam)
        if HAS_D:
            y += Dv[None, :] * u
            du += dy * Dv[None, :]
            dD += tl.sum(dy * u, axis=0)
        if HAS_Z:
            dz = g * y * sig * (1.0 + zt * (1.0 - sig))
            tl.store(dz_ptr + t[:, None] * s_dzl + d[None, :] * s_dzd, dz, mask=m)
        if SOFTPLUS:
            ddt = ddt * tl.where(x > 20.0, 1.0, 1.0 / (1.0 + tl.exp(-x)))
        ddt = tl.where(m, ddt, 0.0)
        dbias += tl.sum(ddt, axis=0)
        tl.store(du_ptr + t[:, None] * s_dul + d[None, :] * s_dud, du, mask=m)
        tl.store(ddelta_ptr + t[:, None] * s_ddl + d[None, :] * s_ddd, ddt, mask=m)
    # per-batch partials, row-major (batch, N, dim) and (batch, dim)
    tl.store(dA_ptr + b * N * dim + rows * dim + d[None, :], dA, mask=(rows < N) & dmask[None, :])
    if HAS_D:
        tl.store(dD_ptr + b * dim + d, dD, mask=dmask)
    if HAS_BIAS:
        tl.store(dbias_ptr + b * dim + d, dbias, mask=dmask)


def _strides3(x):
    return (x.stride(0), x.stride(1), x.stride(2))


def selective_scan_bwd(dout, u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                       reverse=False, *, scale=1.0, chunk=None, block_d=None, num_warps=None):
    """Gradients of `scale * selective_scan(...)` (the forward's semantics, reference.py)
    given dout = dLoss/dout.  Returns (du, ddelta, dA, dB, dC, dD, dz, ddelta_bias), None
    for an input that is None; each gradient has its input's dtype (dA, dD, ddelta_bias:
    their input's dtype too, summed in fp32 or fp64).  Computes in float64 when u is
    float64, else float32.  `chunk` (K, a power of two) and `block_d` override the tiling."""
    batch, dim, L = u.shape
    N = A.shape[1]
    acc_torch = torch.float64 if u.dtype == torch.float64 else torch.float32
    acc = tl.float64 if acc_torch == torch.float64 else tl.float32
    # K 32, BLOCK_D 32, 8 warps: 238 registers and no spills for Vim-Ti (sm_90, static
    # compile); K 64 or 4 warps hit 255 registers and spill.  Not yet timed on a GPU.
    K = chunk or min(32, max(2, triton.next_power_of_2(L)))
    BD = block_d or min(32, max(2, triton.next_power_of_2(dim)))
    num_warps = num_warps or (8 if K * BD >= 1024 else 4)
    NP = triton.next_power_of_2(N)
    n_chunks = max(1, triton.cdiv(L, K))
    n_dblk = triton.cdiv(dim, BD)
    dev = u.device
    du = torch.empty_like(u)
    ddelta = torch.empty_like(delta)
    dz = torch.empty_like(z) if z is not None else None
    dA = torch.zeros(batch, N, dim, dtype=acc_torch, device=dev)
    dD = torch.zeros(batch, dim, dtype=acc_torch, device=dev)
    dbias = torch.zeros(batch, dim, dtype=acc_torch, device=dev)
    dB = torch.zeros(batch, n_dblk, N, L, dtype=acc_torch, device=dev)
    dC = torch.zeros(batch, n_dblk, N, L, dtype=acc_torch, device=dev)
    if batch and dim and L:
        hs = torch.empty(batch, n_chunks, N, dim, dtype=acc_torch, device=dev)
        bias = delta_bias if delta_bias is not None else A
        grid = (n_dblk, batch)
        flags = dict(N=N, NP=NP, K=K, BLOCK_D=BD, HAS_BIAS=delta_bias is not None,
                     SOFTPLUS=bool(delta_softplus), REVERSE=bool(reverse), ACC=acc)
        _chunk_states_kernel[grid](
            u, delta, A, B, bias, hs, L, dim, n_chunks,
            *_strides3(u), *_strides3(delta), A.stride(0), A.stride(1), *_strides3(B),
            *hs.stride(), **flags)
        zz = z if z is not None else u
        dzz = dz if dz is not None else du
        _scan_bwd_kernel[grid](
            u, delta, A, B, C, D if D is not None else A, bias, zz, dout, hs,
            du, ddelta, dzz, dB, dC, dA, dD, dbias,
            L, dim, n_chunks, float(scale),
            *_strides3(u), *_strides3(delta), A.stride(0), A.stride(1), *_strides3(B), *_strides3(C),
            *_strides3(zz), *_strides3(dout), *hs.stride(),
            *_strides3(du), *_strides3(ddelta), *_strides3(dzz), *dB.stride(),
            HAS_D=D is not None, HAS_Z=z is not None, num_warps=num_warps, **flags)
    else:
        du.zero_()
        ddelta.zero_()
        if dz is not None:
            dz.zero_()
    return (du, ddelta, dA.sum(0).t().to(A.dtype), dB.sum(1).to(B.dtype), dC.sum(1).to(C.dtype),
            dD.sum(0).to(D.dtype) if D is not None else None, dz,
            dbias.sum(0).to(delta_bias.dtype) if delta_bias is not None else None)
