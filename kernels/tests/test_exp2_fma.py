"""The FMA-pipe exponential (`triton_kernels._exp2_fma`) and the scan with some or all of
its decays on it (`ScanPlan.poly_exp_states`), against float64 (CPU: TRITON_INTERPRET=1).

The polynomial is plain fp32 arithmetic, so the interpreter computes exactly what the GPU
does (up to FMA contraction of the Horner steps, which only makes the GPU more accurate)."""

from __future__ import annotations

import dataclasses

import pytest
import torch
import triton
import triton.language as tl
from mamba_triton.selective_scan import (
    bidirectional_scan_fn,
    bidirectional_scan_ref,
    fused,
    selective_scan_fn,
    selective_scan_ref,
)
from mamba_triton.selective_scan import triton_kernels as K
from mamba_triton.testing import assert_close
from test_selective_scan import DEVICE, TOL, _f64, make_inputs

# fp32 Horner of the degree-5 fit: 1.8e-7 measured over [-1/2, 1/2] in numpy; the bar leaves
# room for the rounding of r = x - round(x) at large |x| (exact) and of the final scaling (exact)
EXP2_REL_TOL = 2.5e-7


@triton.jit
def _exp2_fma_kernel(p_x, p_y, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    m = offs < n
    tl.store(p_y + offs, K._exp2_fma(tl.load(p_x + offs, mask=m, other=0.0)), mask=m)


def _exp2_fma(x):
    y = torch.empty_like(x)
    _exp2_fma_kernel[(triton.cdiv(x.numel(), 256),)](x, y, x.numel(), BLOCK=256)
    return y


def test_exp2_fma_matches_float64_over_the_normal_range():
    # decays exp2(dt * A * log2 e) are <= 0; the clamp keeps both signs working
    x = torch.cat([torch.rand(4000) * 250 - 125, torch.randn(2000),
                   torch.tensor([0.0, -0.5, 0.5, -1.0, 1.0, -124.5, -125.0, 125.0, 2.5e-8, -3.5])])
    x = x.to(torch.float32).to(DEVICE)
    want = torch.exp2(x.double())
    rel = ((_exp2_fma(x).double() - want).abs() / want).max().item()
    assert rel < EXP2_REL_TOL, rel


def test_exp2_fma_clamps_instead_of_producing_garbage():
    """Below 2^-125 the result is 2^-125 (no decay can tell it from zero); above 2^125,
    2^125; never a wrapped exponent (negative, NaN or huge)."""
    x = torch.tensor([-126.0, -150.0, -1e4, -float("inf"), 126.0, 1e4], device=DEVICE)
    got = _exp2_fma(x).double().cpu()
    tiny, huge = 2.0 ** -125, 2.0 ** 125
    want = torch.tensor([tiny] * 4 + [huge] * 2, dtype=torch.float64)
    assert torch.allclose(got, want, rtol=1e-6, atol=0.0), got


def _with_poly(plan, k):
    return dataclasses.replace(plan, poly_exp_states=k)


@pytest.mark.parametrize("poly", [2, 4], ids=lambda k: f"poly{k}of4")
@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_scan_with_polynomial_decays_matches_float64(scheme, poly):
    batch, dim, L, N = 2, 5, 19, 4
    inp = make_inputs(batch, dim, L, N, torch.float32)
    plan = _with_poly(fused.plan_scan(batch, dim, L, N, torch.device(DEVICE), scheme, seg_len=8), poly)
    kw = dict(D=inp["D"], z=inp["z"], delta_bias=inp["delta_bias"], delta_softplus=True)
    got = selective_scan_fn(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], **kw, plan=plan)
    ref = selective_scan_ref(*(_f64(inp[k]) for k in ("u", "delta", "A", "B", "C")),
                             **{k: _f64(v) if isinstance(v, torch.Tensor) else v for k, v in kw.items()})
    assert_close(f"poly{poly}-{scheme}", ref, got, TOL["fp32"])


@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_bidirectional_low_rank_with_polynomial_decays(scheme):
    """Vim's call (both directions, low-rank delta, N = 16) with 4 of the 16 decays on the FMA pipe."""
    R, L = 12, 17
    f = make_inputs(2, 24, L, 16, torch.float32, R=R)
    b = make_inputs(2, 24, L, 16, torch.float32, R=R)
    args = [f["u"], f["dt_low"], f["A"], f["B"], f["C"], f["D"], f["delta_bias"],
            b["u"], b["dt_low"], b["A"], b["B"], b["C"], b["D"], b["delta_bias"], f["z"]]
    plan = fused.plan_scan(2, 24, L, 16, torch.device(DEVICE), scheme, seg_len=8, directions=2, dt_rank=R)
    out = bidirectional_scan_fn(*args, delta_softplus=True, delta_proj_weight=f["W"], delta_proj_weight_b=b["W"],
                                plan=_with_poly(plan, 4))
    ref = bidirectional_scan_ref(*(_f64(a) for a in args), delta_softplus=True,
                                 delta_proj_weight=_f64(f["W"]), delta_proj_weight_b=_f64(b["W"]))
    assert_close(f"bidir-lowrank-poly4-{scheme}", ref, out, TOL["fp32"])
