"""Backward of causal_conv1d_fn (Triton kernel, `causal_conv1d_autograd`) vs torch.autograd
through the float64 reference (CPU under TRITON_INTERPRET=1).

Tolerances (relative L2 against float64): dx 1e-5 for fp32 x and 1e-2 for bf16/fp16 x
(stored in x's dtype, `testing.TOLERANCE`); dweight and dbias (fp32 parameters, fp32
sums) 1e-5 whatever x's dtype; the kernel run in float64 1e-12.
"""

import pytest
import torch
from mamba_triton import causal_conv1d_autograd
from mamba_triton.causal_conv1d import (
    causal_conv1d_bwd,
    causal_conv1d_fn,
    causal_conv1d_fn_bwd_ref,
    causal_conv1d_fn_ref,
)
from mamba_triton.testing import TOLERANCE, poison_allocations, report_close

pytestmark = pytest.mark.usefixtures("tensors_on_test_device")


def _x(batch, dim, L, dtype, layout):
    """(batch, dim, L) contiguous ("bdl") or a view of a (batch, L, dim) tensor ("bld")."""
    x = torch.randn(batch, dim, L, dtype=torch.float64) if layout == "bdl" else \
        torch.randn(batch, L, dim, dtype=torch.float64).transpose(1, 2)
    return x.to(dtype)


# (dtype, width, bias, activation, layout): every width, with and without bias and SiLU, both
# layouts and all three dtypes, without the full product (the interpreter is slow).
CASES = [
    (torch.float32, 4, True, "silu", "bld"),
    (torch.float32, 4, False, None, "bdl"),
    (torch.float32, 3, True, None, "bld"),
    (torch.float32, 3, False, "silu", "bdl"),
    (torch.float32, 2, True, "silu", "bdl"),
    (torch.float32, 2, False, None, "bld"),
    (torch.bfloat16, 4, True, "silu", "bld"),
    (torch.bfloat16, 3, False, None, "bdl"),
    (torch.bfloat16, 2, True, None, "bld"),
    (torch.float16, 4, False, "silu", "bdl"),
    (torch.float16, 3, True, "silu", "bld"),
    (torch.float16, 2, False, "silu", "bld"),
]


@pytest.mark.parametrize("dtype,width,has_bias,activation,layout", CASES,
                         ids=[f"{str(c[0])[6:]}-w{c[1]}-{'bias' if c[2] else 'nobias'}-{c[3]}-{c[4]}"
                              for c in CASES])
@pytest.mark.parametrize("batch,dim,L", [(2, 19, 37), (1, 3, 2)], ids=lambda v: str(v))
def test_grads_match_float64_reference(monkeypatch, dtype, width, has_bias, activation, layout, batch, dim, L):
    poison_allocations(monkeypatch)
    x = _x(batch, dim, L, dtype, layout).requires_grad_()
    weight = (torch.randn(dim, width) * 0.5).requires_grad_()
    bias = torch.randn(dim).requires_grad_() if has_bias else None
    out = causal_conv1d_autograd(x, weight, bias, activation)
    dout = torch.randn(batch, dim, L).to(dtype)
    got = torch.autograd.grad(out, [x, weight] + ([bias] if has_bias else []), dout)
    r_dx, r_dw, r_db = causal_conv1d_fn_bwd_ref(x, weight, bias, dout, activation)
    assert got[0].dtype == dtype and got[0].stride() == x.stride()  # dx laid out like x
    report_close("dx", r_dx, got[0], TOLERANCE[dtype])
    report_close("dweight", r_dw, got[1], 1e-5)
    if has_bias:
        report_close("dbias", r_db, got[2], 1e-5)


@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("width", [2, 4])
def test_backward_kernel_in_float64_is_exact_across_tiles(activation, width):
    """float64, tiles smaller than L and dim (halos across tile and chunk edges, a chunk
    with tiles past L): the kernel equals autograd to rounding (1e-12)."""
    batch, dim, L = 2, 10, 29
    x = torch.randn(batch, dim, L, dtype=torch.float64)
    weight, bias = torch.randn(dim, width, dtype=torch.float64), torch.randn(dim, dtype=torch.float64)
    dout = torch.randn(batch, L, dim, dtype=torch.float64).transpose(1, 2)  # non-contiguous grad
    dx, dw, db = causal_conv1d_bwd(x, weight, bias, dout, activation, block_l=4, block_e=8)
    r_dx, r_dw, r_db = causal_conv1d_fn_bwd_ref(x, weight, bias, dout, activation)
    report_close("dx fp64", r_dx, dx, 1e-12)
    report_close("dweight fp64", r_dw, dw, 1e-12)
    report_close("dbias fp64", r_db, db, 1e-12)


class _RefForwardTritonBackward(torch.autograd.Function):
    """The float64 reference forward with the Triton backward: what gradcheck checks."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight, bias)
        return causal_conv1d_fn_ref(x, weight, bias, "silu")

    @staticmethod
    def backward(ctx, dout):
        x, weight, bias = ctx.saved_tensors
        return causal_conv1d_bwd(x, weight, bias, dout, "silu", block_l=4, block_e=4)  # 3 tiles over L


def test_gradcheck_float64():
    """torch.autograd.gradcheck: finite differences of the float64 forward (width 3, SiLU)
    against the Triton backward run in float64 (fast mode: a few random projections of
    the Jacobian instead of one backward call per output element)."""
    args = [torch.randn(1, 3, 9, dtype=torch.float64, requires_grad=True),
            torch.randn(3, 3, dtype=torch.float64, requires_grad=True),
            torch.randn(3, dtype=torch.float64, requires_grad=True)]
    assert torch.autograd.gradcheck(_RefForwardTritonBackward.apply, args, eps=1e-6, atol=1e-8, rtol=1e-6,
                                    fast_mode=True)


def test_forward_values_swish_and_frozen_weight():
    """causal_conv1d_autograd's output is causal_conv1d_fn's; "swish" is SiLU; frozen
    weight and bias get no gradient and x still gets its own."""
    x = torch.randn(2, 5, 13).requires_grad_()
    weight, bias = torch.randn(5, 4), torch.randn(5)
    out = causal_conv1d_autograd(x, weight, bias, "swish")
    with torch.no_grad():
        assert torch.equal(out, causal_conv1d_fn(x, weight, bias, "swish"))
    (dx,) = torch.autograd.grad(out.sum(), [x])
    r_dx, _, _ = causal_conv1d_fn_bwd_ref(x, weight, bias, torch.ones(2, 5, 13), "silu")
    report_close("dx", r_dx, dx, 1e-5)


def test_saves_no_new_tensors():
    """Memory kept for backward: x, weight and bias themselves (no pre-activation, no
    output, no fp32 copy of x)."""
    x = torch.randn(2, 7, 16).bfloat16().transpose(1, 2).requires_grad_()
    weight, bias = torch.randn(16, 4).requires_grad_(), torch.randn(16).requires_grad_()
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        causal_conv1d_autograd(x, weight, bias, "silu")
    assert set(saved) <= {t.untyped_storage().data_ptr() for t in (x, weight, bias)}
    assert x.untyped_storage().data_ptr() in saved
