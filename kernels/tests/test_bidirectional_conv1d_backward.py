"""Backward of the fused bidirectional conv1d + SiLU (Triton kernel in its two-direction mode,
`bidirectional_conv1d_autograd`) vs torch.autograd through the float64 reference - the
official flip formulation (CPU under TRITON_INTERPRET=1).

Tolerances as test_causal_conv1d_backward.py (relative L2 against float64): dx 1e-5 for fp32
x and 1e-2 for bf16/fp16 x (stored in x's dtype, `testing.TOLERANCE`); the weights' and
biases' gradients (fp32 parameters, fp32 sums) 1e-5 whatever x's dtype; the kernel run in
float64 1e-12.  The forward takes kernel width 4 only, so that is the only width here.
"""

import pytest
import torch
from mamba_triton import bidirectional_conv1d_autograd
from mamba_triton.causal_conv1d import (
    bidirectional_conv1d,
    bidirectional_conv1d_bwd,
    bidirectional_conv1d_bwd_ref,
    bidirectional_conv1d_ref,
)
from mamba_triton.testing import TOLERANCE, poison_allocations, report_close

pytestmark = pytest.mark.usefixtures("tensors_on_test_device")

NAMES = ("dx", "dweight", "dbias", "dweight_b", "dbias_b")


def _x(batch, L, E, dtype, layout):
    """(batch, L, E): the x half of an in_proj output ("xz", row stride 2E, channels dense) or
    a transposed view of a (batch, E, L) tensor ("bel", tokens dense)."""
    if layout == "xz":
        return torch.randn(batch, L, 2 * E, dtype=torch.float64).to(dtype)[..., :E]
    return torch.randn(batch, E, L, dtype=torch.float64).to(dtype).transpose(1, 2)


def _params(E, bias, bias_b, dtype=torch.float32):
    """Conv1d's (E, 1, 4) forward weight and an (E, 4) backward one (the forward takes both)."""
    return (torch.randn(E, 1, 4, dtype=dtype) * 0.5, torch.randn(E, dtype=dtype) if bias else None,
            torch.randn(E, 4, dtype=dtype) * 0.5, torch.randn(E, dtype=dtype) if bias_b else None)


# (dtype, bias, bias_b, layout): all three dtypes, both layouts, biases on, off and mixed,
# without the full product (the interpreter is slow).
CASES = [
    (torch.float32, True, True, "xz"),
    (torch.float32, False, False, "bel"),
    (torch.float32, True, False, "bel"),
    (torch.bfloat16, True, True, "bel"),
    (torch.bfloat16, False, True, "xz"),
    (torch.float16, True, True, "xz"),
    (torch.float16, False, False, "bel"),
]


@pytest.mark.parametrize("dtype,has_bias,has_bias_b,layout", CASES,
                         ids=[f"{str(c[0])[6:]}-{'b' if c[1] else 'nob'}-{'bb' if c[2] else 'nobb'}-{c[3]}"
                              for c in CASES])
@pytest.mark.parametrize("batch,L,E", [(2, 37, 19), (1, 2, 3)], ids=lambda v: str(v))
def test_grads_match_float64_reference(monkeypatch, dtype, has_bias, has_bias_b, layout, batch, L, E):
    poison_allocations(monkeypatch)
    x = _x(batch, L, E, dtype, layout).requires_grad_()
    params = [p.requires_grad_() if p is not None else None for p in _params(E, has_bias, has_bias_b)]
    out_f, out_b = bidirectional_conv1d_autograd(x, *params)
    dout_f = torch.randn(batch, L, E).to(dtype)
    dout_b = torch.randn(batch, E, L).to(dtype).transpose(1, 2)  # a non-contiguous gradient too
    inputs = [t for t in (x, *params) if t is not None]
    got = torch.autograd.grad((out_f, out_b), inputs, (dout_f, dout_b))
    ref = bidirectional_conv1d_bwd_ref(x, *params, dout_f, dout_b)
    want = [(name, t, r) for name, t, r in zip(NAMES, (x, *params), ref) if t is not None]
    assert len(got) == len(want)
    for (name, t, r), g in zip(want, got):
        assert g.dtype == t.dtype and g.shape == t.shape
        report_close(name, r, g, TOLERANCE[dtype] if name == "dx" else 1e-5)
    # dx laid out like x: channels dense for in_proj's x, tokens dense for the transposed view
    assert (got[0].stride(2) == 1) == (layout == "xz") and (got[0].stride(1) == 1) == (layout == "bel")


@pytest.mark.parametrize("layout", ["xz", "bel"])
def test_backward_kernel_in_float64_is_exact_across_tiles(layout):
    """float64, tiles smaller than L and E (halos across tile and chunk edges in both
    directions, a chunk with tiles past L): the kernel equals autograd to rounding (1e-12)."""
    batch, L, E = 2, 29, 10
    x = _x(batch, L, E, torch.float64, layout)
    params = _params(E, True, True, torch.float64)
    dout_f, dout_b = torch.randn(2, batch, L, E, dtype=torch.float64)
    got = bidirectional_conv1d_bwd(x, *params, dout_f, dout_b, block_l=4, block_e=8)
    ref = bidirectional_conv1d_bwd_ref(x, *params, dout_f, dout_b)
    for name, r, g in zip(NAMES, ref, got):
        report_close(f"{name} fp64", r, g, 1e-12)


class _RefForwardTritonBackward(torch.autograd.Function):
    """The float64 reference forward with the Triton backward: what gradcheck checks."""

    @staticmethod
    def forward(ctx, x, weight, bias, weight_b, bias_b):
        ctx.save_for_backward(x, weight, bias, weight_b, bias_b)
        return bidirectional_conv1d_ref(x, weight, bias, weight_b, bias_b)

    @staticmethod
    def backward(ctx, dout_f, dout_b):
        return bidirectional_conv1d_bwd(*ctx.saved_tensors, dout_f, dout_b, block_l=4, block_e=2)  # 3 tiles


def test_gradcheck_float64():
    """torch.autograd.gradcheck: finite differences of the float64 forward against the Triton
    backward run in float64 (fast mode: random projections of the Jacobian)."""
    args = [torch.randn(1, 9, 3, dtype=torch.float64), *_params(3, True, True, torch.float64)]
    args = [a.requires_grad_() for a in args]
    assert torch.autograd.gradcheck(_RefForwardTritonBackward.apply, args, eps=1e-6, atol=1e-8, rtol=1e-6,
                                    fast_mode=True)


def test_forward_values_out_dtype_and_frozen_parameters():
    """The outputs are bidirectional_conv1d's (out_dtype included); frozen weights and biases
    get no gradient, x still gets its own, and an unused output counts as a zero gradient."""
    batch, L, E = 2, 13, 5
    x = torch.randn(batch, L, E).requires_grad_()
    params = _params(E, True, True)
    out_f, out_b = bidirectional_conv1d_autograd(x, *params, out_dtype=torch.bfloat16)
    with torch.no_grad():
        want_f, want_b = bidirectional_conv1d(x, *params, out_dtype=torch.bfloat16)
    assert torch.equal(out_f, want_f) and torch.equal(out_b, want_b)
    (dx,) = torch.autograd.grad(out_b.float().sum(), [x])
    r_dx = bidirectional_conv1d_bwd_ref(x, *params, torch.zeros(batch, L, E), torch.ones(batch, L, E))[0]
    report_close("dx", r_dx, dx, 1e-5)


def test_saves_no_new_tensors():
    """Memory kept for backward: x, the weights and the biases themselves (no pre-activation,
    no output, no flipped or fp32 copy of x)."""
    x = torch.randn(2, 7, 32).bfloat16()[..., :16].requires_grad_()
    params = [p.requires_grad_() for p in _params(16, True, True)]
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        bidirectional_conv1d_autograd(x, *params)
    assert set(saved) <= {t.untyped_storage().data_ptr() for t in (x, *params)}
    assert x.untyped_storage().data_ptr() in saved
