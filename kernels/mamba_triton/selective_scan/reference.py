"""Pure-PyTorch selective scan: the reference every fast kernel is checked against.

Exact (runs in whatever dtype it is given, float64 included), CPU-capable and slow:
a Python loop over time.  The `torch` scan backend of the Vim model uses it too.

Shapes follow mamba_ssm's `selective_scan_fn`:
    u, delta, z : (batch, dim, L)      any dtype, any strides
    A           : (dim, N)             real, fp32 (or fp64 for reference runs)
    B, C        : (batch, N, L)        input-dependent ("variable B/C")
    D, delta_bias : (dim,)             fp32

Per batch b, channel d, state n, time t:
    dt[t]   = softplus(delta[t] + delta_bias[d])   (softplus only if delta_softplus)
    h[t,n]  = exp(dt[t] * A[d,n]) * h[t-1,n] + dt[t] * B[t,n] * u[t]
    y[t]    = sum_n C[t,n] * h[t,n] + D[d] * u[t]
    out[t]  = y[t] * silu(z[t])
With reverse=True time runs from L-1 down to 0 (the state enters at the end), which is
the backward direction of Vim without flipping any tensor.  With a `delta_proj_weight` W
(dim, R), `delta` is the low-rank dt_low (batch, R, L) and delta[b, d, t] =
sum_r W[d, r] dt_low[b, r, t] (Vim's dt_proj without its bias, which is delta_bias).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def selective_scan_ref(
    u: torch.Tensor,
    delta: torch.Tensor,
    A: torch.Tensor,
    B: torch.Tensor,
    C: torch.Tensor,
    D: torch.Tensor | None = None,
    z: torch.Tensor | None = None,
    delta_bias: torch.Tensor | None = None,
    delta_softplus: bool = False,
    return_last_state: bool = False,
    reverse: bool = False,
    compute_dtype: torch.dtype | None = None,
    out_dtype: torch.dtype | None = None,
    delta_proj_weight: torch.Tensor | None = None,
):
    """Reference selective scan. Output in u's dtype; arithmetic in `compute_dtype`
    (default: float64 if u is float64, else float32 - the state is never kept in 16 bits).
    `out_dtype` overrides the output dtype (used to chain scans without rounding).

    Returns `out` or `(out, last_state)` with last_state (batch, dim, N) in compute dtype.
    """
    out_dtype = out_dtype or u.dtype
    if compute_dtype is None:
        compute_dtype = torch.float64 if u.dtype == torch.float64 else torch.float32
    u = u.to(compute_dtype)
    delta = delta.to(compute_dtype)
    if delta_proj_weight is not None:
        delta = torch.einsum("dr,brl->bdl", delta_proj_weight.to(compute_dtype), delta)
    A = A.to(compute_dtype)
    B = B.to(compute_dtype)
    C = C.to(compute_dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(compute_dtype)[None, :, None]
    if delta_softplus:
        delta = F.softplus(delta)

    batch, dim, L = u.shape
    # dA, dBu: (batch, dim, L, N). Materialised once; the loop then only does the recurrence.
    dA = torch.exp(delta.unsqueeze(-1) * A[None, :, None, :])
    dBu = (delta * u).unsqueeze(-1) * B.transpose(1, 2)[:, None, :, :]
    Ct = C.transpose(1, 2)  # (batch, L, N)

    h = u.new_zeros(batch, dim, A.shape[1])
    ys = [None] * L
    steps = range(L - 1, -1, -1) if reverse else range(L)
    for t in steps:
        h = dA[:, :, t] * h + dBu[:, :, t]
        ys[t] = torch.einsum("bdn,bn->bd", h, Ct[:, t])
    y = torch.stack(ys, dim=2) if L > 0 else u.new_zeros(batch, dim, 0)
    if D is not None:
        y = y + u * D.to(compute_dtype)[None, :, None]
    if z is not None:
        y = y * F.silu(z.to(compute_dtype))
    out = y.to(out_dtype)
    return (out, h) if return_last_state else out


def bidirectional_scan_ref(
    u, delta, A, B, C, D, delta_bias,
    u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b,
    z,
    delta_softplus: bool = True,
    compute_dtype: torch.dtype | None = None,
    delta_proj_weight: torch.Tensor | None = None,
    delta_proj_weight_b: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
):
    """The Vim "bimamba v2" scan pair: `(y_fwd + y_bwd) / 2 * silu(z)`.

    The forward direction scans t = 0..L-1 with (u, delta, A, B, C, D, delta_bias); the
    backward direction has its own parameters (suffix `_b`), all given in the ORIGINAL
    token order, and scans t = L-1..0.  This equals the official
    `y_f + flip(y_b(flip(x)))` formulation without materialising any flipped copy.
    Every tensor has the shape documented in the module docstring; z is shared;
    delta_proj_weight / delta_proj_weight_b make delta / delta_b low-rank (see above).
    `out` (batch, dim, L) receives the result when given (and is returned).
    """
    cd = compute_dtype or (torch.float64 if u.dtype == torch.float64 else torch.float32)
    common = dict(delta_softplus=delta_softplus, compute_dtype=cd, out_dtype=cd)
    y_f = selective_scan_ref(u, delta, A, B, C, D=D, delta_bias=delta_bias,
                             delta_proj_weight=delta_proj_weight, **common)
    y_b = selective_scan_ref(u_b, delta_b, A_b, B_b, C_b, D=D_b, delta_bias=delta_bias_b, reverse=True,
                             delta_proj_weight=delta_proj_weight_b, **common)
    y = ((y_f + y_b) * 0.5 * F.silu(z.to(cd))).to(u.dtype)
    return y if out is None else out.copy_(y)
