"""Triton backward of the selective scan vs torch.autograd through reference.py in float64.

Shapes are drawn fresh per test from the session seed (conftest) and kept tiny for the
interpreter; the tiling is forced small (groups of 4 steps, sums over time folded every 2
groups, 4 channels a block, time in up to 3 segments scanned in parallel) so every case crosses
group, fold, segment and channel-block boundaries and has ragged ends.  Every freshly
allocated tensor is NaN-filled first (`poison_allocations`), so an unwritten gradient
element fails.  Inputs and the incoming gradient are drawn in the tested dtype and then
promoted to float64 for the reference, so both sides see the same rounded values.

Tolerances (relative L2 error against float64, per gradient): fp32 1e-5, bf16 2e-2,
fp16 2e-3 (`GRAD_TOLERANCE`); measured worst cases over two seeds of every case here:
fp32 1.0e-6, bf16 4.6e-3, fp16 3.2e-4.  The 16-bit errors are the rounding of the
16-bit gradients themselves (du, ddelta, dz, dB, dC are stored in their inputs' dtype;
dA, dD, ddelta_bias stay fp32 and show fp32-size errors); the arithmetic is fp32.
"""

from __future__ import annotations

import math

import pytest
import torch
from mamba_triton.selective_scan import (
    bidirectional_scan_ref,
    bidirectional_scan_train_fn,
    selective_scan_bwd,
    selective_scan_ref,
    selective_scan_train_fn,
)
from mamba_triton.testing import TEST_DEVICE, assert_close, poison_allocations

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
GRAD_TOLERANCE = {"fp32": 1e-5, "bf16": 2e-2, "fp16": 2e-3}
TILING = dict(checkpoint=4, block_d=4, fold=2, segments=3)  # several groups, folds, blocks, segments
NAMES = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


@pytest.fixture(autouse=True)
def _poison(monkeypatch):
    poison_allocations(monkeypatch)


def _shape():
    """A fresh tiny (batch, dim, L, N): L up to 3 chunks with a ragged end, dim not a
    multiple of the channel block, N not a power of two at times."""
    pick = lambda lo, hi: int(torch.randint(lo, hi + 1, ()))
    return pick(1, 2), pick(3, 7), pick(9, 23), pick(1, 6)


def _inputs(batch, dim, L, N, dtype, *, layout="bld", D=True, z=True, bias=True, R=None):
    """Vim's layouts: u, delta, z (batch, L, dim) memory seen as (batch, dim, L); B, C (and
    dt_low when R is given) slices of one (batch, L, R + 2N) projection."""

    def seq(scale=1.0):
        if layout == "bld":
            return (torch.randn(batch, L, dim) * scale).to(dtype).transpose(1, 2)
        return (torch.randn(batch, dim, L) * scale).to(dtype)

    r = R or 0
    proj = torch.randn(batch, L, r + 2 * N).to(dtype)
    x = dict(u=seq(), delta=seq(0.5), A=-(torch.rand(dim, N) * 2 + 0.05),
             B=proj[:, :, r:r + N].transpose(1, 2), C=proj[:, :, r + N:].transpose(1, 2),
             D=torch.randn(dim) if D else None, z=seq() if z else None,
             delta_bias=torch.randn(dim) * 0.3 if bias else None)
    if R:
        x["delta"] = proj[:, :, :R].transpose(1, 2)
        x["delta_proj_weight"] = torch.randn(dim, R) * (0.5 / math.sqrt(R))
    return {k: (v.to(TEST_DEVICE) if v is not None else None) for k, v in x.items()}


def _leaf64(x):
    return None if x is None else x.detach().double().requires_grad_()


def _check(name, ref_inputs, got, tol):
    """assert_close for every gradient whose input exists; returns {name: error}."""
    errs = {}
    for k, g in got.items():
        ref = ref_inputs[k]
        if ref is None:
            assert g is None, f"{name}: gradient for absent input {k}"
            continue
        assert g.dtype == ref_inputs[k + "_dtype"], f"{name}: d{k} has dtype {g.dtype}"
        errs[k] = assert_close(f"{name} d{k}", ref.grad, g, tol)
    return errs


def _one_direction(dtype_name, *, reverse, z=True, D=True, bias=True, softplus=True, layout="bld", R=None,
                   via_autograd=False):
    dtype = DTYPES[dtype_name]
    batch, dim, L, N = _shape()
    x = _inputs(batch, dim, L, N, dtype, layout=layout, D=D, z=z, bias=bias, R=R)
    ref_in = {k: _leaf64(v) for k, v in x.items()}
    ref_in.update({k + "_dtype": v.dtype for k, v in x.items() if v is not None})
    kw = dict(delta_softplus=softplus, reverse=reverse)
    out64 = selective_scan_ref(*(ref_in[k] for k in NAMES[:5]), D=ref_in["D"], z=ref_in["z"],
                               delta_bias=ref_in["delta_bias"], delta_proj_weight=ref_in.get("delta_proj_weight"),
                               **kw)
    dout = torch.randn(out64.shape).to(dtype).to(TEST_DEVICE)
    out64.backward(dout.double())
    name = f"b{batch}-d{dim}-L{L}-N{N}-{dtype_name}-{'rev' if reverse else 'fwd'}"
    if via_autograd:
        leaves = {k: (v.detach().requires_grad_() if v is not None else None) for k, v in x.items()}
        out = selective_scan_train_fn(*(leaves[k] for k in NAMES[:5]), D=leaves["D"], z=leaves["z"],
                                      delta_bias=leaves["delta_bias"],
                                      delta_proj_weight=leaves.get("delta_proj_weight"), **kw)
        assert out.dtype == dtype
        assert_close(name + " out", out64, out, {"fp32": 1e-5, "bf16": 1e-2, "fp16": 1e-2}[dtype_name])
        out.backward(dout)
        got = {k: v.grad if v is not None else None for k, v in leaves.items()}
    else:
        grads = selective_scan_bwd(dout, *(x[k] for k in NAMES[:5]), D=x["D"], z=x["z"],
                                   delta_bias=x["delta_bias"], **kw, **TILING)
        got = dict(zip(("u", "delta", "A", "B", "C", "D", "z", "delta_bias"), grads))
    return _check(name, ref_in, got, GRAD_TOLERANCE[dtype_name])


OPTIONS = {
    "all": dict(),
    "bare": dict(z=False, D=False, bias=False, softplus=False),
    "z-softplus": dict(D=False, bias=False),
    "D-bias": dict(z=False, softplus=False),
}


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("opts", list(OPTIONS))
def test_backward_fp32_matches_float64(opts, reverse):
    _one_direction("fp32", reverse=reverse, **OPTIONS[opts])


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("dtype_name", ["bf16", "fp16"])
def test_backward_16bit_matches_float64(dtype_name, reverse):
    _one_direction(dtype_name, reverse=reverse)


def _fp32_grads_vs_float64(x, **tiling):
    """(float64 reference inputs with their .grad, our fp32 gradients in NAMES order) for
    softplus scans of the fp32 inputs x under a fresh random incoming gradient."""
    ref_in = {k: _leaf64(v) for k, v in x.items()}
    out64 = selective_scan_ref(*(ref_in[k] for k in NAMES[:5]), D=ref_in["D"], z=ref_in["z"],
                               delta_bias=ref_in["delta_bias"], delta_softplus=True)
    dout = torch.randn(out64.shape, device=TEST_DEVICE)
    out64.backward(dout.double())
    grads = selective_scan_bwd(dout, *(x[k] for k in NAMES[:5]), D=x["D"], z=x["z"], delta_bias=x["delta_bias"],
                               delta_softplus=True, **tiling)
    return ref_in, grads


def test_backward_contiguous_layout_default_tiling():
    # (batch, dim, L)-contiguous tensors, and the launcher's own tiling
    ref_in, grads = _fp32_grads_vs_float64(_inputs(2, 5, 13, 3, torch.float32, layout="bdl"))
    for k, g in zip(NAMES, grads):
        assert_close(f"d{k}", ref_in[k].grad, g, GRAD_TOLERANCE["fp32"])


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_train_fn_autograd(reverse):
    _one_direction("fp32", reverse=reverse, via_autograd=True)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_train_fn_low_rank_delta(reverse):
    _one_direction("fp32", reverse=reverse, R=3, via_autograd=True)


def _bidir_case(dtype_name, *, skip=True, R=None):
    dtype = DTYPES[dtype_name]
    batch, dim, L, N = _shape()
    f = _inputs(batch, dim, L, N, dtype, D=skip, bias=skip, R=R)
    b = _inputs(batch, dim, L, N, dtype, D=skip, bias=skip, z=False, R=R)
    keys = ("u", "delta", "A", "B", "C", "D", "delta_bias")
    x = {**{k: f[k] for k in keys}, **{k + "_b": b[k] for k in keys}, "z": f["z"]}
    if R:
        x["delta_proj_weight"], x["delta_proj_weight_b"] = f["delta_proj_weight"], b["delta_proj_weight"]
    order = [*keys, *(k + "_b" for k in keys), "z"]
    ref_in = {k: _leaf64(v) for k, v in x.items()}
    ref_in.update({k + "_dtype": v.dtype for k, v in x.items() if v is not None})
    w = {k: ref_in.get(k) for k in ("delta_proj_weight", "delta_proj_weight_b")}
    out64 = bidirectional_scan_ref(*(ref_in[k] for k in order), delta_softplus=True, **w)
    dout = torch.randn(out64.shape).to(dtype).to(TEST_DEVICE)
    out64.backward(dout.double())
    leaves = {k: (v.detach().requires_grad_() if v is not None else None) for k, v in x.items()}
    out = bidirectional_scan_train_fn(*(leaves[k] for k in order), delta_softplus=True,
                                      **{k: leaves.get(k) for k in w})
    out.backward(dout)
    got = {k: v.grad if v is not None else None for k, v in leaves.items()}
    return _check(f"bidir-b{batch}-d{dim}-L{L}-N{N}-{dtype_name}", ref_in, got, GRAD_TOLERANCE[dtype_name])


@pytest.mark.parametrize("skip", [True, False], ids=["D-bias", "no-D-bias"])
def test_bidirectional_backward_fp32(skip):
    _bidir_case("fp32", skip=skip)


def test_bidirectional_backward_bf16_low_rank():
    _bidir_case("bf16", R=2)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_gradcheck_float64(reverse):
    # float64 inputs: the forward runs through reference.py, the backward kernels in float64
    x = _inputs(1, 3, 6, 2, torch.float64, layout="bdl")
    args = [x[k].detach().double().requires_grad_() for k in NAMES]
    fn = lambda *a: selective_scan_train_fn(*a[:5], D=a[5], z=a[6], delta_bias=a[7], delta_softplus=True,
                                            reverse=reverse)
    assert torch.autograd.gradcheck(fn, args, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_gradcheck_float64_bidirectional():
    f = _inputs(1, 2, 5, 2, torch.float64, layout="bdl")
    b = _inputs(1, 2, 5, 2, torch.float64, layout="bdl", z=False)
    keys = ("u", "delta", "A", "B", "C", "D", "delta_bias")
    args = [t.detach().double().requires_grad_() for t in (*(f[k] for k in keys), *(b[k] for k in keys), f["z"])]
    assert torch.autograd.gradcheck(lambda *a: bidirectional_scan_train_fn(*a), args, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_saves_only_inputs_and_far_less_than_autograd_through_the_scan():
    """The train fn saves its inputs only; autograd through reference.py saves per-step
    states.  Measured with saved-tensor hooks (bytes of distinct storages)."""
    batch, dim, L, N = 2, 8, 32, 16
    x = _inputs(batch, dim, L, N, torch.float32, layout="bdl")

    def saved_bytes(fn):
        seen = {}

        def pack(t):
            seen[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
            return t

        leaves = [x[k].detach().requires_grad_() for k in NAMES]
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            fn(*leaves[:5], D=leaves[5], z=leaves[6], delta_bias=leaves[7], delta_softplus=True)
        return sum(seen.values())

    ours = saved_bytes(selective_scan_train_fn)
    naive = saved_bytes(selective_scan_ref)
    inputs = sum(x[k].untyped_storage().nbytes() for k in NAMES)
    assert ours <= inputs  # B and C share one projection's storage
    # backward.py's formula: at least two fp32 (batch, dim, L, N) tensors for the naive scan
    assert naive >= 2 * batch * dim * L * N * 4 > 3 * ours


def test_inference_fn_still_refuses_grad():
    from mamba_triton import selective_scan_fn

    x = _inputs(1, 2, 4, 2, torch.float32)
    with pytest.raises(ValueError, match="inference-only"):
        selective_scan_fn(x["u"].requires_grad_(), x["delta"], x["A"], x["B"], x["C"])


def test_small_dt_keeps_fp32_accuracy():
    # Vim's dt_proj init puts softplus(delta + bias) near 1e-3 (bias ~ -6.5): log(1 + e^x) formed
    # as 1 + e^x in fp32 loses ~eps / dt of dt, which the state gradients (dA, dB, dC) then carried
    # at ~1.5e-5 against 3e-7 for fp32 autograd through reference.py (whose softplus is log1p)
    batch, dim, L, N = 1, int(torch.randint(3, 7, ())), int(torch.randint(40, 80, ())), 16
    x = _inputs(batch, dim, L, N, torch.float32, layout="bdl")
    x["delta_bias"] = torch.randn(dim, device=TEST_DEVICE) * 0.3 - 6.5
    ref_in, grads = _fp32_grads_vs_float64(x, **TILING)
    for k, g in zip(NAMES, grads):
        assert_close(f"small-dt d{k}", ref_in[k].grad, g, 2e-6)


def test_default_segments_fill_waves_at_measured_shapes():
    """The H100 counts that ran fastest per direction (reports/train-h100/
    scan_backward_segment_counts.md): 1024 px batch 16 at 11 or 16 (2 or 3 full waves; 12 ran
    17% slower), 768 px batch 32 at 8 (6, the earlier rule's count, ran 21% slower); and
    on fresh shapes, never a segment under 256 steps, and one segment once the programs
    fill a wave."""
    from mamba_triton.selective_scan.backward import default_segments

    assert default_segments(16, 384, 4097, 32) in (11, 16)
    assert default_segments(32, 384, 2305, 32) == 8
    gen = torch.Generator().manual_seed(torch.initial_seed())
    for _ in range(50):
        batch, L = (int(torch.randint(1, 64, (1,), generator=gen)), int(torch.randint(1, 9000, (1,), generator=gen)))
        n = default_segments(batch, 384, L, 32)
        assert 1 <= n <= max(1, L // 256), (batch, L, n)
        if batch * 12 >= 132 * 8:
            assert n == 1, (batch, L, n)
