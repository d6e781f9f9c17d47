"""The custom ops of `mamba_triton.ops`: `torch.library.opcheck` (schema and mutation
declarations, fake implementations against the real outputs' shapes, dtypes and strides,
AOT dispatch with dynamic shapes) and the wrappers' results against the float64 references.

Inputs are tiny (the CPU runs the kernels under TRITON_INTERPRET=1) and laid out as the Vim
model makes them: (batch, L, channels) memory seen as (batch, channels, L), so the fakes'
layout rule is checked too.
"""

import os

import pytest
import torch
from mamba_triton import ops
from mamba_triton.add_rmsnorm import add_rmsnorm_ref
from mamba_triton.causal_conv1d import bidirectional_conv1d_ref, causal_conv1d_fn_ref
from mamba_triton.selective_scan import bidirectional_scan_ref, selective_scan_ref
from mamba_triton.testing import TOLERANCE, assert_close, on_test_device

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16}


@pytest.fixture(autouse=True, params=list(ops.OP_SETS))
def _default_device_and_ops(monkeypatch, request):
    monkeypatch.setattr(ops, "EAGER_THROUGH_OPS", True)  # eager calls too go through the dispatcher
    monkeypatch.setattr(ops, "COMPILED_OPS", request.param)  # each test runs on both op sets
    with on_test_device():
        yield


def _op_set():
    return getattr(torch.ops, ops.OP_SETS[ops.COMPILED_OPS])


def _fakes_need_compiled_kernels() -> bool:
    # the traced ops' fake runs the launcher on fake tensors, which interpreted kernels cannot
    # take: under the interpreter they are checked for results here, and traced (compiled
    # for sm_90 without a GPU) by test_ops_traced.py
    return ops.COMPILED_OPS == "traced" and os.environ.get("TRITON_INTERPRET") == "1"


def _opcheck(op, args, kwargs=None):
    if not _fakes_need_compiled_kernels():
        torch.library.opcheck(op, args, kwargs)  # raises with the failing check's name


def _f64(t):
    return None if t is None else t.double()


def _scan_direction(batch, dim, L, N, R, dtype):
    """u (batch, dim, L), dt_low (batch, R, L), A, B, C (batch, N, L) views, D, delta_bias, W."""
    u = torch.randn(batch, L, dim).to(dtype).transpose(1, 2)
    proj = torch.randn(batch, L, R + 2 * N).to(dtype)  # x_proj's output: dt_low | B | C
    return dict(u=u, delta=proj[..., :R].transpose(1, 2), A=-(torch.rand(dim, N) * 2 + 0.05),
                B=proj[..., R:R + N].transpose(1, 2), C=proj[..., R + N:].transpose(1, 2),
                D=torch.randn(dim), delta_bias=torch.randn(dim) * 0.3, W=torch.randn(dim, R) * 0.3)


def _bidirectional_args(dtype, batch=2, dim=5, L=7, N=4, R=2):
    f, b = (_scan_direction(batch, dim, L, N, R, dtype) for _ in range(2))
    z = torch.randn(batch, L, dim).to(dtype).transpose(1, 2)
    args = [f["u"], f["delta"], f["A"], f["B"], f["C"], f["D"], f["delta_bias"],
            b["u"], b["delta"], b["A"], b["B"], b["C"], b["D"], b["delta_bias"], z]
    return args, dict(delta_softplus=True, delta_proj_weight=f["W"], delta_proj_weight_b=b["W"])


# Each opcheck runs the op about five times (under the interpreter, ~0.3 s each at these
# sizes), so each op is checked once; the chunked scheme (three launches) only for results.
@pytest.mark.parametrize("into_out,dtype,scheme,check", [
    (False, "fp32", "auto", True), (True, "bf16", "auto", True), (True, "fp32", "chunked", False)],
    ids=["new-fp32", "out-bf16", "out-fp32-chunked"])
def test_bidirectional_scan(into_out, dtype, scheme, check):
    args, kw = _bidirectional_args(DTYPES[dtype])
    seg_len = 4 if scheme == "chunked" else None  # two segments of the 7 tokens
    want = bidirectional_scan_ref(*map(_f64, args), **{**kw, "delta_proj_weight": _f64(kw["delta_proj_weight"]),
                                                       "delta_proj_weight_b": _f64(kw["delta_proj_weight_b"])})
    op_args = (*args, True, kw["delta_proj_weight"], kw["delta_proj_weight_b"], scheme, seg_len)
    if into_out:
        out = torch.full_like(args[0].transpose(1, 2), float("nan")).transpose(1, 2)  # the model's layout
        got = ops.bidirectional_scan(*args, **kw, out=out, scheme=scheme, seg_len=seg_len)
        assert got is out
        if check:
            _opcheck(_op_set().bidirectional_scan_out.default, (torch.empty_like(out), *op_args))
    else:
        got = ops.bidirectional_scan(*args, **kw, scheme=scheme, seg_len=seg_len)
        if check:
            _opcheck(_op_set().bidirectional_scan.default, op_args)
    assert got.dtype == args[0].dtype and got.stride() == args[0].stride()
    assert_close("bidirectional_scan", want, got, TOLERANCE[DTYPES[dtype]])


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
def test_selective_scan(reverse):
    d = _scan_direction(2, 5, 7, 4, 2, torch.float32)
    z = torch.randn(2, 5, 7)  # channel-major: the other layout
    args = (d["u"], d["delta"], d["A"], d["B"], d["C"], d["D"], z, d["delta_bias"])
    got, last = ops.selective_scan(*args, delta_softplus=True, return_last_state=True, reverse=reverse,
                                   delta_proj_weight=d["W"])
    want, want_last = selective_scan_ref(*map(_f64, args), delta_softplus=True, return_last_state=True,
                                         reverse=reverse, delta_proj_weight=_f64(d["W"]))
    assert_close("selective_scan out", want, got, TOLERANCE[torch.float32])
    assert_close("selective_scan last state", want_last, last, TOLERANCE[torch.float32])
    _opcheck(_op_set().selective_scan.default, (*args, True, reverse, d["W"], "auto", None))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bidirectional_conv1d(dtype):
    xz = torch.randn(2, 7, 2 * 6).to(DTYPES[dtype])
    x = xz[..., :6]  # the x half of in_proj's output, as the mixer passes it
    w, w_b = torch.randn(6, 1, 4), torch.randn(6, 1, 4)
    bias, bias_b = torch.randn(6), None
    got = ops.bidirectional_conv1d(x, w, bias, w_b, bias_b)
    want = bidirectional_conv1d_ref(x.double(), w.double(), bias.double(), w_b.double(), None)
    for name, ref, out in zip(("forward", "backward"), want, got):
        assert out.dtype == x.dtype
        assert_close(f"conv1d {name}", ref, out, TOLERANCE[DTYPES[dtype]])
    _opcheck(_op_set().bidirectional_conv1d.default, (x, w, bias, w_b, bias_b, torch.float32))


@pytest.mark.parametrize("channels_last", [True, False], ids=["bld", "bdl"])
def test_causal_conv1d(channels_last):
    x = torch.randn(2, 7, 6).transpose(1, 2) if channels_last else torch.randn(2, 6, 7)
    w, bias = torch.randn(6, 3), torch.randn(6)
    got = ops.causal_conv1d(x, w, bias, "silu")
    assert_close("causal_conv1d", causal_conv1d_fn_ref(x.double(), w.double(), bias.double(), "silu"), got,
                 TOLERANCE[torch.float32])
    _opcheck(_op_set().causal_conv1d.default, (x, w, bias, "silu"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["first", "add", "in_place"])
def test_add_rmsnorm(dtype, case):
    dtype = DTYPES[dtype]
    hidden = torch.randn(2, 5, 24).to(dtype)
    residual = None if case == "first" else torch.randn(2, 5, 24) * 3
    weight = torch.rand(24) + 0.5
    want_out, want_res = add_rmsnorm_ref(hidden.double(), _f64(residual), weight.double(), 1e-5)
    given = None if residual is None else residual.clone()
    out, res = ops.add_rmsnorm(hidden, given, weight, 1e-5, residual_out=given if case == "in_place" else None)
    assert out.dtype == dtype and res.dtype == torch.float32
    if case == "in_place":
        assert res is given
    assert_close("add_rmsnorm out", want_out, out, TOLERANCE[dtype])
    assert_close("add_rmsnorm residual", want_res, res, 1e-6)
    if case == "first":
        _opcheck(_op_set().add_rmsnorm.default, (hidden, None, weight, 1e-5, None))
        _opcheck(_op_set().rmsnorm.default, (hidden.float(), weight, 1e-5, dtype))
    elif case == "add":
        _opcheck(_op_set().add_rmsnorm.default, (hidden, residual, weight, 1e-5, torch.float16))
    else:
        _opcheck(_op_set().add_rmsnorm_.default, (hidden, residual.clone(), weight, 1e-5, None))


def test_first_block_in_fp32_keeps_hidden_as_the_residual():
    """No copy of the first block's fp32 token map: the residual is hidden itself."""
    hidden = torch.randn(2, 5, 24)
    _, res = ops.add_rmsnorm(hidden, None, torch.ones(24))
    assert res is hidden


@torch.no_grad()
def test_ops_compile_without_graph_breaks():
    """A function of several ops under torch.compile(fullgraph=True): one graph, in-place
    forms included, and the eager results."""
    if _fakes_need_compiled_kernels():
        pytest.skip("traced ops under the interpreter: see test_ops_traced.py")
    args, kw = _bidirectional_args(torch.float32)
    hidden, residual, weight = torch.randn(2, 5, 24), torch.randn(2, 5, 24), torch.rand(24) + 0.5

    def f(hidden, residual, out):
        normed, residual = ops.add_rmsnorm(hidden, residual, weight, 1e-5, residual_out=residual)
        y = ops.bidirectional_scan(*args, **kw, out=out)
        return normed, residual, y * 2

    def fresh():
        return hidden, residual.clone(), torch.empty_like(args[0])

    want = f(*fresh())
    explain = torch._dynamo.explain(f)(*fresh())
    assert explain.graph_break_count == 0 and explain.graph_count == 1, explain.break_reasons
    torch._dynamo.reset()
    got = torch.compile(f, fullgraph=True, backend="aot_eager")(*fresh())
    for w, g in zip(want, got):
        torch.testing.assert_close(g, w, rtol=0, atol=0)
