"""Triton selective scan vs the float64 reference (CPU: TRITON_INTERPRET=1, set in conftest).

Every output is poisoned with NaN before the kernel runs (see `_nan_outputs`), so an
element the kernel forgets to write fails `assert_close`.  Shapes are tiny: the
interpreter runs each program in Python.  The chunked scheme (three launches, segments
scanned in parallel) is forced with `scheme="chunked", seg_len=8` on lengths that are
not multiples of 8, so its carry logic is exercised on the CPU too.
"""

from __future__ import annotations

import math

import pytest
import torch
from mamba_triton.selective_scan import (
    bidirectional_scan_fn,
    bidirectional_scan_ref,
    fused,
    selective_scan_fn,
    selective_scan_ref,
)
from mamba_triton.testing import assert_close

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
TOL = {"fp32": 1e-5, "bf16": 1e-2, "fp16": 1e-2}
SEG = 8  # segment length that forces several segments on the small test lengths
# On a GPU machine the same tests run the compiled kernels (conftest sets the interpreter
# only when there is no CUDA device).
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.fixture(autouse=True)
def _nan_outputs(monkeypatch):
    real = fused._empty_like_layout

    def poisoned(u):
        out = real(u)
        out.fill_(float("nan"))
        return out

    monkeypatch.setattr(fused, "_empty_like_layout", poisoned)


def make_inputs(batch, dim, L, N, dtype, layout="bld", delta_scale=0.5, delta_shift=0.0, device=DEVICE,
                R=None):
    """Inputs as the Vim model produces them: u, delta, z are (batch, L, dim) memory seen as
    (batch, dim, L) ("bld"; "bdl" = contiguous (batch, dim, L)); B and C are slices of one
    (batch, L, R + 2N) projection, seen as (batch, N, L), and so is dt_low (its first R
    columns, seen as (batch, R, L)), the low-rank factor of delta = W @ dt_low."""

    def seq(scale=1.0, shift=0.0):
        if layout == "bld":
            x = torch.randn(batch, L, dim) * scale + shift
            return x.to(dtype).transpose(1, 2)
        return (torch.randn(batch, dim, L) * scale + shift).to(dtype)

    R = int(torch.randint(2, 4, ())) if R is None else R
    proj = torch.randn(batch, L, R + 2 * N).to(dtype)
    inputs = dict(
        u=seq(),
        delta=seq(delta_scale, delta_shift),
        A=-(torch.rand(dim, N) * 2 + 0.05),
        B=proj[:, :, R:R + N].transpose(1, 2),
        C=proj[:, :, R + N:].transpose(1, 2),
        D=torch.randn(dim),
        z=seq(),
        delta_bias=torch.randn(dim) * 0.3,
        dt_low=proj[:, :, :R].transpose(1, 2),
        W=torch.randn(dim, R) * (delta_scale / math.sqrt(R)),  # W @ dt_low ~ delta's scale
    )
    return {k: v.to(device) for k, v in inputs.items()}


def _f64(x):
    return None if x is None else x.double()


def _scan_case(dtype_name, L, scheme, *, z=True, D=True, bias=True, softplus=True, reverse=False,
               last_state=False, layout="bld", N=4, batch=2, dim=5):
    dtype = DTYPES[dtype_name]
    inp = make_inputs(batch, dim, L, N, dtype, layout)
    kw = dict(D=inp["D"] if D else None, z=inp["z"] if z else None,
              delta_bias=inp["delta_bias"] if bias else None, delta_softplus=softplus,
              return_last_state=last_state, reverse=reverse)
    got = selective_scan_fn(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], **kw,
                            scheme=scheme, seg_len=SEG)
    ref = selective_scan_ref(*(_f64(inp[k]) for k in ("u", "delta", "A", "B", "C")),
                             **{k: _f64(v) if isinstance(v, torch.Tensor) else v for k, v in kw.items()})
    name = f"B{batch}-D{dim}-L{L}-N{N}-{dtype_name}-{scheme}"
    if last_state:
        (out, state), (ref_out, ref_state) = got, ref
        assert state.dtype == torch.float32 and state.shape == (batch, dim, N)
        assert_close(name + " last_state", ref_state, state, TOL["fp32"] if dtype_name == "fp32" else 1e-3)
    else:
        out, ref_out = got, ref
    assert out.dtype == dtype and out.shape == (batch, dim, L)
    assert_close(name, ref_out, out, TOL[dtype_name])
    return out


@pytest.mark.parametrize("scheme", ["direct", "chunked"])
@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_scan_all_features(dtype_name, scheme):
    _scan_case(dtype_name, 37, scheme, N=16 if scheme == "direct" else 4)


@pytest.mark.parametrize(
    "opts",
    [dict(z=False, D=False, bias=False, softplus=False),
     dict(z=False, D=True, bias=False, softplus=True),
     dict(reverse=True, last_state=True),
     dict(reverse=False, last_state=True, z=False)],
    ids=["plain", "D-softplus", "reverse-last_state", "last_state"],
)
@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_scan_options(scheme, opts):
    _scan_case("fp32", 23, scheme, **opts)


@pytest.mark.parametrize("L", [1, 2, 13, 29, 41], ids=lambda L: f"L{L}")
def test_scan_odd_lengths_chunked(L):
    _scan_case("fp32", L, "chunked", reverse=L % 2 == 1, last_state=True)


@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_scan_channels_fill_whole_blocks(scheme):
    # dim a multiple of every BLOCK_D: the kernels drop the channel mask
    _scan_case("bf16", 19, scheme, dim=64, batch=1, reverse=scheme == "chunked")


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_carry_many_segments(reverse):
    """The carry kernel alone with 150 segments (more than one warp's tile on a GPU):
    state entering each segment = decay * state before + segment end state, in scan order."""
    batch, N, dim, n_seg = 1, 2, 3, 150
    A = -(torch.rand(dim, N) + 0.1)
    ends = torch.randn(batch, 1, n_seg + 1, N, dim)
    dtsum = torch.rand(batch, 1, n_seg, dim)
    state = ends.clone().to(DEVICE)
    fused._carry(state, dtsum.to(DEVICE), A.to(DEVICE), A.to(DEVICE), dim, N, n_seg, ndir=1, reverse=reverse)
    decay = torch.exp(A.t()[None, None, :, :] * dtsum[:, :, :, None, :])  # (b, 1, seg, N, dim)
    expect = torch.empty_like(ends)
    h = torch.zeros(batch, 1, N, dim)
    order = range(n_seg - 1, -1, -1) if reverse else range(n_seg)
    for k in order:  # slot of the state entering segment k: k forward, k + 1 backward
        expect[:, :, k + (1 if reverse else 0)] = h
        h = decay[:, :, k] * h + ends[:, :, k]
    expect[:, :, 0 if reverse else n_seg] = h  # final state
    assert_close(f"carry-{n_seg}-segments", expect.double(), state.cpu(), TOL["fp32"])


@pytest.mark.parametrize("N", [1, 5, 16, 40], ids=lambda n: f"N{n}")
def test_scan_state_sizes(N):
    _scan_case("fp32", 11, "direct", N=N, last_state=True)


@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_scan_contiguous_bdl_layout(scheme):
    out = _scan_case("bf16", 19, scheme, layout="bdl", dim=3)
    assert out.is_contiguous(), "a (batch, dim, L)-contiguous u gets an output of the same layout"


def test_scan_output_follows_linear_layout():
    out = _scan_case("bf16", 9, "direct", dim=4)
    assert out.transpose(1, 2).is_contiguous(), "a (batch, L, dim) u gets a (batch, L, dim) output, no copy"


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # numpy, in the interpreter
@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_scan_extreme_delta_stays_finite(scheme):
    # dt from ~0 (softplus of -60) to ~60 and raw delta of 1e4: decays underflow to 0 and the
    # input term dominates; nothing may overflow to Inf or NaN.
    inp = make_inputs(2, 4, 21, 4, torch.float32, delta_scale=40.0)
    inp["delta"][0, 0, 3] = 1e4
    inp["delta"][1, 2, 5] = -1e4
    out = selective_scan_fn(inp["u"], inp["delta"], inp["A"], inp["B"], inp["C"], inp["D"], inp["z"],
                            inp["delta_bias"], True, scheme=scheme, seg_len=SEG)
    ref = selective_scan_ref(*(_f64(inp[k]) for k in ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")),
                             delta_softplus=True)
    assert_close(f"extreme-delta-{scheme}", ref, out, 1e-5)


@pytest.mark.parametrize("R", [1, 3, 12], ids=lambda r: f"R{r}")
@pytest.mark.parametrize("scheme", ["direct", "chunked"])
@pytest.mark.parametrize("dtype_name", ["fp32", "bf16"])
def test_scan_low_rank_delta(dtype_name, scheme, R):
    """delta given as dt_low (batch, R, L) + delta_proj_weight (dim, R): the kernel forms
    delta = W @ dt_low per step (Vim's dt_proj fused); checked against the float64
    reference, which forms it with an einsum, and against the reference on the explicit
    delta (the identity the mixer relies on: F.linear(dt_low, W) as the delta)."""
    dtype = DTYPES[dtype_name]
    inp = make_inputs(2, 5, 29, 16 if scheme == "direct" else 4, dtype, R=R)
    kw = dict(D=inp["D"], z=inp["z"], delta_bias=inp["delta_bias"], delta_softplus=True,
              reverse=scheme == "chunked")
    out = selective_scan_fn(inp["u"], inp["dt_low"], inp["A"], inp["B"], inp["C"], **kw,
                            delta_proj_weight=inp["W"], scheme=scheme, seg_len=SEG)
    f64 = {k: _f64(v) for k, v in inp.items()}
    kw64 = {k: _f64(v) if isinstance(v, torch.Tensor) else v for k, v in kw.items()}
    ref = selective_scan_ref(f64["u"], f64["dt_low"], f64["A"], f64["B"], f64["C"], **kw64,
                             delta_proj_weight=f64["W"])
    explicit = torch.nn.functional.linear(f64["dt_low"].transpose(1, 2), f64["W"]).transpose(1, 2)
    ref_explicit = selective_scan_ref(f64["u"], explicit, f64["A"], f64["B"], f64["C"], **kw64)
    torch.testing.assert_close(ref, ref_explicit, rtol=1e-12, atol=1e-12)
    assert out.dtype == dtype and out.shape == (2, 5, 29)
    assert_close(f"lowrank-R{R}-{dtype_name}-{scheme}", ref, out, TOL[dtype_name])


def _bidir_inputs(batch, dim, L, N, dtype, with_skip=True):
    f, b = make_inputs(batch, dim, L, N, dtype), make_inputs(batch, dim, L, N, dtype)
    args = [f["u"], f["delta"], f["A"], f["B"], f["C"], f["D"] if with_skip else None,
            f["delta_bias"] if with_skip else None,
            b["u"], b["delta"], b["A"], b["B"], b["C"], b["D"] if with_skip else None,
            b["delta_bias"] if with_skip else None, f["z"]]
    return args


@pytest.mark.parametrize("L", [1, 2, 16, 17, 23], ids=lambda L: f"L{L}")
@pytest.mark.parametrize("scheme", ["direct", "chunked"])
@pytest.mark.parametrize("dtype_name", ["fp32", "bf16"])
def test_bidirectional_matches_reference(dtype_name, scheme, L):
    if L == 1 and dtype_name == "bf16":
        pytest.skip("L=1 is covered in fp32")
    # 24 channels: in 16 bits the output is rounded twice (the backward half is stored,
    # then the sum), and where the halves cancel the relative error grows; over ~1000
    # elements the relative L2 error stays near its typical 0.5% (at 5 channels a rare
    # draw reached 1.01e-2)
    args = _bidir_inputs(2, 24, L, 4, DTYPES[dtype_name])
    out = bidirectional_scan_fn(*args, delta_softplus=True, scheme=scheme, seg_len=SEG)
    ref = bidirectional_scan_ref(*(_f64(a) for a in args), delta_softplus=True)
    assert out.dtype == DTYPES[dtype_name] and out.shape == (2, 24, L)
    assert_close(f"bidir-B2-D5-L{L}-N4-{dtype_name}-{scheme}", ref, out, TOL[dtype_name])


@pytest.mark.parametrize("L", [2, 17], ids=lambda L: f"L{L}")
@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_bidirectional_low_rank_delta(scheme, L):
    """Both directions with their own dt_low and delta_proj_weight (the Vim mixer's call)."""
    R = 12
    f = make_inputs(2, 24, L, 16, torch.bfloat16, R=R)  # 24 channels: see test_bidirectional_matches_reference
    b = make_inputs(2, 24, L, 16, torch.bfloat16, R=R)
    args = [f["u"], f["dt_low"], f["A"], f["B"], f["C"], f["D"], f["delta_bias"],
            b["u"], b["dt_low"], b["A"], b["B"], b["C"], b["D"], b["delta_bias"], f["z"]]
    out = bidirectional_scan_fn(*args, delta_softplus=True, delta_proj_weight=f["W"],
                                delta_proj_weight_b=b["W"], scheme=scheme, seg_len=SEG)
    ref = bidirectional_scan_ref(*(_f64(a) for a in args), delta_softplus=True,
                                 delta_proj_weight=_f64(f["W"]), delta_proj_weight_b=_f64(b["W"]))
    assert_close(f"bidir-lowrank-L{L}-{scheme}", ref, out, TOL["bf16"])
    with pytest.raises(ValueError, match="both directions or neither"):
        bidirectional_scan_fn(*args, delta_proj_weight=f["W"])
    with pytest.raises(ValueError, match=r"delta_proj_weight_b must have shape \(dim=24, R\)"):
        bidirectional_scan_fn(*args, delta_proj_weight=f["W"], delta_proj_weight_b=b["W"].tolist())
    b_dt_low3 = args[8][:, :3]  # a rank-3 backward direction beside a rank-12 forward one
    with pytest.raises(ValueError, match="delta_proj_weight_b must have the shape"):
        bidirectional_scan_fn(*args[:8], b_dt_low3, *args[9:], delta_proj_weight=f["W"],
                              delta_proj_weight_b=b["W"][:, :3])


@pytest.mark.parametrize("scheme", ["direct", "chunked"])
def test_bidirectional_writes_into_given_out(scheme):
    """out= a strided half of a wider buffer (the mixer's spent x half of in_proj's
    output): every element written there, the other half untouched, same values."""
    args = _bidir_inputs(2, 5, 11, 4, torch.float32)
    buf = torch.full((2, 11, 10), float("nan"), device=DEVICE)
    buf[..., 5:] = 7.0
    out = buf[..., :5].transpose(1, 2)
    got = bidirectional_scan_fn(*args, delta_softplus=True, out=out, scheme=scheme, seg_len=SEG)
    assert got.data_ptr() == out.data_ptr()
    ref = bidirectional_scan_ref(*(_f64(a) for a in args), delta_softplus=True)
    assert_close(f"bidir-out-{scheme}", ref, got, TOL["fp32"])
    assert torch.equal(buf[..., 5:], torch.full_like(buf[..., 5:], 7.0))
    with pytest.raises(ValueError, match="out must have shape"):
        bidirectional_scan_fn(*args, out=out[:, :3])
    with pytest.raises(ValueError, match="out has dtype"):
        bidirectional_scan_fn(*args, out=out.double())


def test_bidirectional_without_skip_and_fp16():
    args = _bidir_inputs(1, 6, 20, 4, torch.float16, with_skip=False)
    out = bidirectional_scan_fn(*args, delta_softplus=True, scheme="chunked", seg_len=SEG)
    ref = bidirectional_scan_ref(*(_f64(a) for a in args), delta_softplus=True)
    assert_close("bidir-noskip-fp16", ref, out, TOL["fp16"])


def test_bidirectional_equals_flip_formulation():
    """The official Vim way: y_f + flip(scan(flip(inputs))), gated afterwards."""
    args = _bidir_inputs(1, 4, 15, 16, torch.float32)  # N=16 as in Vim
    (u, dl, A, B, C, D, bias, ub, dlb, Ab, Bb, Cb, Db, biasb, z) = [_f64(a) for a in args]
    flip = lambda x: x.flip(-1)  # noqa: E731
    y_f = selective_scan_ref(u, dl, A, B, C, D, None, bias, True)
    y_b = flip(selective_scan_ref(flip(ub), flip(dlb), Ab, flip(Bb), flip(Cb), Db, None, biasb, True))
    official = (y_f + y_b) / 2 * torch.nn.functional.silu(z)
    out = bidirectional_scan_fn(*args, delta_softplus=True, scheme="direct")
    assert_close("bidir-vs-flip", official, out, 1e-5)


def test_plan_picks_direct_at_large_batch_and_chunked_at_batch_1():
    cpu = torch.device("cpu")
    assert fused.plan_scan(128, 384, 6085, 16, cpu).scheme == "direct"
    plan = fused.plan_scan(1, 384, 6085, 16, cpu)
    assert plan.scheme == "chunked"
    assert 2 <= plan.n_seg(6085) <= fused.MAX_SEGMENTS
    assert plan.seg_len % plan.steps_per_group == 0
    with pytest.raises(ValueError, match="scheme"):
        fused.plan_scan(1, 8, 8, 16, cpu, scheme="fast")


@pytest.mark.parametrize("N, T, capped", [(16, 4, True), (32, 2, False), (64, 1, False)])
def test_plan_unrolls_fewer_steps_for_larger_states(N, T, capped):
    """Large N: fewer unrolled steps and no register cap, or the state spills (static check).
    The cap is for the bidirectional kernel only (one direction measured faster without)."""
    cpu = torch.device("cpu")
    direct = fused.plan_scan(128, 384, 6085, N, cpu, directions=2)
    assert direct.scheme == "direct" and direct.steps_per_group == T
    assert (direct.max_registers is not None) == capped
    one_way = fused.plan_scan(128, 384, 6085, N, cpu)
    assert one_way.steps_per_group == T and one_way.max_registers is None
    chunked = fused.plan_scan(1, 384, 6085, N, cpu)
    assert chunked.steps_per_group == T and chunked.seg_len % T == 0
    # a low-rank delta halves T in the chunked passes (register pressure, compile time)
    low_rank = fused.plan_scan(1, 384, 6085, N, cpu, dt_rank=12)
    assert low_rank.steps_per_group == max(1, T // 2) and low_rank.seg_len % low_rank.steps_per_group == 0
    assert fused.plan_scan(128, 384, 6085, N, cpu, dt_rank=12, directions=2) == direct


# ---------------------------------------------------------------- bad input

def _good(device=DEVICE):
    return make_inputs(1, 4, 6, 16, torch.float32, device=device)


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda k: k.update(u=k["u"][0]), "u must be a 3-d tensor"),
        (lambda k: k.update(delta=k["delta"][:, :, :5]), "delta must have shape"),
        (lambda k: k.update(delta=k["delta"].half()), "delta has dtype"),
        (lambda k: k.update(u=k["u"].double(), delta=k["delta"].double()), "u has dtype"),
        (lambda k: k.update(A=k["A"].half()), "A has dtype"),
        (lambda k: k.update(A=k["A"][:3]), "A must have shape"),
        (lambda k: k.update(A=torch.zeros(4, 0, device=DEVICE), B=k["B"][:, :0], C=k["C"][:, :0]), "N=0"),
        (lambda k: k.update(A=-torch.ones(4, 65, device=DEVICE), B=torch.zeros(1, 65, 6, device=DEVICE),
                            C=torch.zeros(1, 65, 6, device=DEVICE)), "N=65"),
        (lambda k: k.update(B=k["B"][:, :8]), "B must have shape"),
        (lambda k: k.update(C=k["C"].int()), "C has dtype"),
        (lambda k: k.update(z=k["z"][:, :3]), "z must have shape"),
        (lambda k: k.update(D=torch.ones(5, device=DEVICE)), "D must have shape"),
        (lambda k: k.update(delta_bias=torch.ones(4, 1, device=DEVICE)), "delta_bias must have shape"),
        (lambda k: k.update(D=torch.ones(4, dtype=torch.int64, device=DEVICE)), "D has dtype"),
    ],
    ids=["u-2d", "delta-shape", "delta-dtype", "u-fp64", "A-fp16", "A-shape", "N-0", "N-65",
         "B-shape", "C-int", "z-shape", "D-shape", "bias-shape", "D-int"],
)
def test_bad_input_raises_value_error(mutate, match):
    kw = _good()
    mutate(kw)
    with pytest.raises(ValueError, match=match):
        selective_scan_fn(kw["u"], kw["delta"], kw["A"], kw["B"], kw["C"], kw["D"], kw["z"], kw["delta_bias"])


@pytest.mark.parametrize(
    "mutate, match",
    [
        (lambda k: k.update(W=k["W"][:3]), r"delta_proj_weight must have shape \(dim=4, R\)"),
        (lambda k: k.update(W=torch.zeros(4, 0, device=DEVICE), dt_low=k["dt_low"][:, :0]), "rank R=0"),
        (lambda k: k.update(W=torch.zeros(4, 65, device=DEVICE), dt_low=torch.zeros(1, 65, 6, device=DEVICE)),
         "rank R=65"),
        (lambda k: k.update(dt_low=k["delta"]), r"delta \(dt_low, as delta_proj_weight is given\) must have shape"),
        (lambda k: k.update(W=k["W"].int()), "delta_proj_weight has dtype"),
    ],
    ids=["W-shape", "R-0", "R-65", "delta-not-low-rank", "W-int"],
)
def test_bad_low_rank_delta_raises_value_error(mutate, match):
    kw = make_inputs(1, 4, 6, 16, torch.float32, R=3)
    mutate(kw)
    with pytest.raises(ValueError, match=match):
        selective_scan_fn(kw["u"], kw["dt_low"], kw["A"], kw["B"], kw["C"], delta_proj_weight=kw["W"])


def test_cpu_tensors_without_interpreter_raise(monkeypatch):
    monkeypatch.setattr(fused, "_interpreting", lambda: False)
    kw = _good(device="cpu")
    with pytest.raises(ValueError, match="needs CUDA tensors"):
        selective_scan_fn(kw["u"], kw["delta"], kw["A"], kw["B"], kw["C"])


def test_requires_grad_is_refused():
    kw = _good()
    kw["A"].requires_grad_(True)
    with pytest.raises(ValueError, match="inference-only"):
        selective_scan_fn(kw["u"], kw["delta"], kw["A"], kw["B"], kw["C"])
    with torch.no_grad():  # fine without autograd
        selective_scan_fn(kw["u"], kw["delta"], kw["A"], kw["B"], kw["C"])


def test_bidirectional_bad_input():
    args = _bidir_inputs(1, 4, 6, 16, torch.float32)
    with pytest.raises(ValueError, match="z is required"):
        bidirectional_scan_fn(*args[:14], None)
    bad = list(args)
    bad[9] = -torch.ones(4, 8, device=DEVICE)  # A_b with N=8
    bad[10], bad[11] = torch.zeros(1, 8, 6, device=DEVICE), torch.zeros(1, 8, 6, device=DEVICE)
    with pytest.raises(ValueError, match="same N"):
        bidirectional_scan_fn(*bad)
    bad = list(args)
    bad[7] = args[7].to(torch.bfloat16)
    with pytest.raises(ValueError, match="u_b has dtype|u_b must match|delta_b has dtype"):
        bidirectional_scan_fn(*bad)
    bad = list(args)
    bad[12] = None  # D_b missing while D given
    with pytest.raises(ValueError, match="both directions"):
        bidirectional_scan_fn(*bad)


def test_empty_sequence():
    kw = make_inputs(1, 3, 0, 16, torch.float32)
    out, state = selective_scan_fn(kw["u"], kw["delta"], kw["A"], kw["B"], kw["C"], return_last_state=True)
    assert out.shape == (1, 3, 0) and torch.equal(state.cpu(), torch.zeros(1, 3, 16))
    assert math.prod(out.shape) == 0
