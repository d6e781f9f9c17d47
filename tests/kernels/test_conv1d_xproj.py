"""Conv1d + SiLU of both directions with each direction's x_proj in the same kernel, vs
the float64 reference (CPU under TRITON_INTERPRET=1; the same tests run on a GPU)."""

import pytest
import torch
import torch.nn.functional as F

from vimbench.kernels.causal_conv1d import bidirectional_conv1d_xproj, bidirectional_conv1d_xproj_ref
from vimbench.testing import TEST_DEVICE, TOLERANCE, assert_close, on_test_device, poison_allocations

DEVICE = TEST_DEVICE


@pytest.fixture(autouse=True)
def _default_device():
    with on_test_device():
        yield


def _inputs(batch, L, E, P, dtype, bias=True):
    x = torch.randn(batch, L, 2 * E, dtype=torch.float64).to(dtype)[..., :E]  # in_proj's x half
    w, w_b = torch.randn(E, 1, 4) * 0.5, torch.randn(E, 1, 4) * 0.5
    b, b_b = (torch.randn(E), torch.randn(E)) if bias else (None, None)
    pw, pw_b = torch.randn(P, E) * E**-0.5, torch.randn(P, E) * E**-0.5  # x_proj / x_proj_b weights
    return x, w, b, w_b, b_b, pw, pw_b


def _f64(t):
    return None if t is None else t.double()


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("batch,L,E,P,blocks", [
    (1, 1, 24, 44, (16, 16)),    # one token; E not a multiple of the channel block
    (2, 37, 96, 20, (16, 32)),   # several token tiles and channel blocks, P < 32
    (1, 70, 200, 44, (64, 64)),  # Vim-Ti's P = 12 + 2 * 16, the default tiles
], ids=lambda v: str(v))
def test_matches_reference(monkeypatch, dtype, batch, L, E, P, blocks):
    poison_allocations(monkeypatch)
    args = _inputs(batch, L, E, P, dtype)
    u_f, u_b, p_f, p_b = bidirectional_conv1d_xproj(*args, block_l=blocks[0], block_e=blocks[1])
    r_f, r_b, _, _ = bidirectional_conv1d_xproj_ref(*(_f64(a) for a in args))
    for t, shape in ((u_f, (batch, L, E)), (u_b, (batch, L, E)), (p_f, (batch, L, P)), (p_b, (batch, L, P))):
        assert t.dtype == dtype and t.shape == shape and t.is_contiguous()
    assert_close("u_f", r_f, u_f, TOLERANCE[dtype])
    assert_close("u_b", r_b, u_b, TOLERANCE[dtype])
    # the projection of the u the kernel returned, with the weight rounded as autocast does
    pw, pw_b = args[5], args[6]
    assert_close("x_dbl_f", F.linear(u_f.double(), pw.to(dtype).double()), p_f, TOLERANCE[dtype])
    assert_close("x_dbl_b", F.linear(u_b.double(), pw_b.to(dtype).double()), p_b, TOLERANCE[dtype])


def test_float64_without_bias_matches_reference():
    """float64 in and out (the conv accumulates in fp32, as the conv kernel always does)."""
    args = _inputs(2, 9, 40, 44, torch.float64, bias=False)
    got = bidirectional_conv1d_xproj(*args, block_l=16, block_e=16)
    want = bidirectional_conv1d_xproj_ref(*args)
    for name, w, g in zip(("u_f", "u_b", "x_dbl_f", "x_dbl_b"), want, got, strict=True):
        assert g.dtype == torch.float64
        assert_close(name, w, g, 1e-6)


@pytest.mark.parametrize("change, match", [
    (lambda a: a.__setitem__(5, a[5][:, :7]), r"proj_weight must be \(P, E=40\)"),
    (lambda a: a.__setitem__(6, a[6][:30]), "must have the same shape"),
    (lambda a: a.__setitem__(1, a[1][:, :, :3]), r"weight must be \(E=40, 1, 4\)"),
], ids=["proj-E", "proj-mismatch", "taps"])
def test_bad_inputs_raise_clear_errors(change, match):
    args = list(_inputs(1, 5, 40, 44, torch.float32))
    change(args)
    with pytest.raises(ValueError, match=match):
        bidirectional_conv1d_xproj(*args)
    with pytest.raises(ValueError, match="block_l and block_e must be >= 16"):
        bidirectional_conv1d_xproj(*_inputs(1, 5, 40, 44, torch.float32), block_l=8)
