"""Backward of the fused add + RMSNorm (Triton kernel, `add_rmsnorm_autograd`) vs torch.autograd
through the float64 reference (CPU under TRITON_INTERPRET=1).

Tolerances (relative L2 against float64): the fp32 gradients (dresidual, dweight, and
dhidden for fp32 hidden) 1e-5; dhidden stored in bf16/fp16 1e-2 (`testing.TOLERANCE`);
the kernel run in float64 1e-12.
"""

import pytest
import torch
from mamba_triton import add_rmsnorm_autograd
from mamba_triton.add_rmsnorm import add_rmsnorm, add_rmsnorm_bwd, add_rmsnorm_bwd_ref, add_rmsnorm_ref
from mamba_triton.testing import TOLERANCE, poison_allocations, report_close

pytestmark = pytest.mark.usefixtures("tensors_on_test_device")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("batch,L,D", [(2, 3, 96), (1, 5, 100)], ids=lambda v: str(v))
@pytest.mark.parametrize("first_block", [False, True], ids=["add", "first"])
@pytest.mark.parametrize("grad_residual", [True, False], ids=["dres", "no-dres"])
def test_grads_match_float64_reference(monkeypatch, dtype, batch, L, D, first_block, grad_residual):
    """Gradients through out (and the returned residual, when used) for hidden, residual
    and weight, in the dtypes the forward accepts."""
    poison_allocations(monkeypatch)
    hidden = torch.randn(batch, L, D, dtype=torch.float64).to(dtype).requires_grad_()
    residual = None if first_block else (torch.randn(batch, L, D) * 3).requires_grad_()
    weight = (torch.rand(D) + 0.5).requires_grad_()
    out, res = add_rmsnorm_autograd(hidden, residual, weight)
    dout = torch.randn(batch, L, D).to(dtype)
    dres = torch.randn(batch, L, D) if grad_residual else None
    inputs = [hidden, weight] + ([residual] if residual is not None else [])
    outputs, grads = ([out, res], [dout, dres]) if grad_residual else ([out], [dout])
    got = torch.autograd.grad(outputs, inputs, grads)
    r_dh, r_dres, r_dw = add_rmsnorm_bwd_ref(dout, dres, hidden, residual, weight)
    assert got[0].dtype == dtype and got[1].dtype == torch.float32
    report_close("dhidden", r_dh, got[0], TOLERANCE[dtype])
    report_close("dweight", r_dw, got[1], 1e-5)
    if residual is not None:
        assert got[2].dtype == torch.float32
        report_close("dresidual", r_dres, got[2], 1e-5)


def test_two_blocks_chained_with_strided_inputs_and_grads():
    """A residual stream through two blocks (block 2 adds onto block 1's fp32 residual),
    hidden as token-major transposed views, and non-contiguous incoming gradients."""
    B, L, D = 2, 6, 64
    h1 = torch.randn(B, D, L).transpose(1, 2).requires_grad_()  # stride over D is L
    h2 = torch.randn(B, D, L, dtype=torch.float64).to(torch.bfloat16).transpose(1, 2).requires_grad_()
    w1, w2 = (torch.rand(D) + 0.5).requires_grad_(), torch.randn(D).requires_grad_()
    dout1, dout2 = torch.randn(B, D, L).transpose(1, 2), torch.randn(B, L, 2 * D).bfloat16()[..., ::2]
    dres2 = torch.randn(B, L, D)

    def run(norm, h1, h2, w1, w2):
        o1, r1 = norm(h1, None, w1)
        o2, r2 = norm(h2, r1, w2)
        return torch.autograd.grad([o1, o2, r2], [h1, h2, w1, w2], [dout1.to(o1.dtype), dout2.to(o2.dtype),
                                                                  dres2.to(r2.dtype)])

    got = run(add_rmsnorm_autograd, h1, h2, w1, w2)
    leaves = [t.detach().double().requires_grad_() for t in (h1, h2, w1, w2)]
    ref = run(add_rmsnorm_ref, *leaves)
    for name, r, g, tol in zip(["dh1", "dh2", "dw1", "dw2"], ref, got, [1e-5, 1e-2, 1e-5, 1e-5]):
        report_close(name, r, g, tol)


@pytest.mark.parametrize("first_block", [False, True], ids=["add", "first"])
def test_backward_kernel_in_float64_is_exact(first_block):
    """Run in float64, the kernel's math equals autograd's to rounding (1e-12)."""
    B, L, D = 2, 5, 48
    hidden, weight = torch.randn(B, L, D, dtype=torch.float64), torch.randn(D, dtype=torch.float64)
    residual = None if first_block else torch.randn(B, L, D, dtype=torch.float64)
    dout, dres = torch.randn(B, L, D, dtype=torch.float64), torch.randn(B, L, D, dtype=torch.float64)
    _, res = add_rmsnorm_ref(hidden, residual, weight)
    res_dtype = None if first_block else torch.float64
    dh, dr, dw = add_rmsnorm_bwd(dout, dres, res, weight, 1e-5, torch.float64, res_dtype, block_m=2)
    r_dh, r_dr, r_dw = add_rmsnorm_bwd_ref(dout, dres, hidden, residual, weight)
    report_close("dhidden fp64", r_dh, dh, 1e-12)
    report_close("dweight fp64", r_dw, dw, 1e-12)
    if not first_block:
        report_close("dresidual fp64", r_dr, dr, 1e-12)


class _RefForwardTritonBackward(torch.autograd.Function):
    """The float64 reference forward with the Triton backward: what gradcheck checks."""

    @staticmethod
    def forward(ctx, hidden, residual, weight):
        out, res = add_rmsnorm_ref(hidden, residual, weight)
        ctx.save_for_backward(res, weight)
        return out, res

    @staticmethod
    def backward(ctx, dout, dres):
        res, weight = ctx.saved_tensors
        return add_rmsnorm_bwd(dout, dres, res, weight, 1e-5, torch.float64, torch.float64)


def test_gradcheck_float64():
    """torch.autograd.gradcheck: finite differences of the float64 forward against the Triton
    backward run in float64, through both outputs."""
    B, L, D = 1, 3, 8
    args = [torch.randn(B, L, D, dtype=torch.float64, requires_grad=True),
            torch.randn(B, L, D, dtype=torch.float64, requires_grad=True),
            torch.randn(D, dtype=torch.float64, requires_grad=True)]
    assert torch.autograd.gradcheck(_RefForwardTritonBackward.apply, args, eps=1e-6, atol=1e-8, rtol=1e-6)


def test_forward_values_and_frozen_weight():
    """add_rmsnorm_autograd's outputs are add_rmsnorm's; a weight that does not require
    grad gets None and the inputs still get theirs."""
    hidden = torch.randn(1, 4, 32).half().requires_grad_()
    residual = torch.randn(1, 4, 32)
    weight = torch.rand(32) + 0.5
    out, res = add_rmsnorm_autograd(hidden, residual, weight)
    with torch.no_grad():
        out0, res0 = add_rmsnorm(hidden, residual, weight)
    assert torch.equal(out, out0) and torch.equal(res, res0)
    assert out.requires_grad and res.requires_grad
    (dh,) = torch.autograd.grad(out.float().sum(), [hidden])
    r_dh, _, _ = add_rmsnorm_bwd_ref(torch.ones(1, 4, 32), None, hidden, residual, weight)
    report_close("dhidden", r_dh, dh, TOLERANCE[torch.float16])


def _saved_storages(fn):
    """Run fn; return its result and {storage pointer: bytes} of what autograd saved."""
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        return fn(), saved


@pytest.mark.parametrize("first_block", [False, True], ids=["add", "first"])
def test_saves_only_the_returned_residual_and_weight(first_block):
    """Memory kept for backward: the fp32 residual the forward returns and the weight,
    nothing else (no rstd, no normalized copy, no fp32 copy of hidden)."""
    hidden = torch.randn(2, 7, 64).half().requires_grad_()
    residual = None if first_block else torch.randn(2, 7, 64).requires_grad_()
    weight = torch.randn(64).requires_grad_()
    (out, res), saved = _saved_storages(lambda: add_rmsnorm_autograd(hidden, residual, weight))
    assert saved == {res.untyped_storage().data_ptr(): 2 * 7 * 64 * 4, weight.untyped_storage().data_ptr(): 64 * 4}


def test_frozen_residual_and_hidden_only_through_residual_output():
    """Only hidden wants a gradient and only the returned residual is used: dhidden is
    exactly that incoming gradient (out's branch contributes nothing)."""
    hidden = torch.randn(2, 3, 40).bfloat16().requires_grad_()
    residual = torch.randn(2, 3, 40)
    _, res = add_rmsnorm_autograd(hidden, residual, torch.randn(40))
    dres = torch.randn(2, 3, 40)
    (dh,) = torch.autograd.grad(res, [hidden], dres)
    assert dh.dtype == torch.bfloat16
    report_close("dhidden", dres, dh, TOLERANCE[torch.bfloat16])
