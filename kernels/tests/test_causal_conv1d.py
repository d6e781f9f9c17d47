"""Bidirectional depthwise conv1d + SiLU kernel and causal_conv1d_fn vs their float64
references (CPU under TRITON_INTERPRET=1), and the references vs the official Conv1d
formulation."""

import pytest
import torch
import torch.nn.functional as F
from mamba_triton.causal_conv1d import (
    bidirectional_conv1d,
    bidirectional_conv1d_ref,
    causal_conv1d_fn,
    causal_conv1d_fn_ref,
    causal_conv1d_ref,
)
from mamba_triton.testing import TEST_DEVICE, TOLERANCE, assert_close, poison_allocations

DEVICE = TEST_DEVICE


pytestmark = pytest.mark.usefixtures("tensors_on_test_device")


TOL = TOLERANCE


def _conv_params(E, bias=True):
    w, w_b = torch.randn(E, 1, 4) * 0.5, torch.randn(E, 1, 4) * 0.5
    b = torch.randn(E) if bias else None
    b_b = torch.randn(E) if bias else None
    return w, b, w_b, b_b


def _in_proj_x(batch, L, E, dtype):
    """The x half of an in_proj output (batch, L, 2E): a view with row stride 2E."""
    return torch.randn(batch, L, 2 * E, dtype=torch.float64).to(dtype)[..., :E]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("batch,L,E", [(1, 1, 24), (2, 2, 40), (1, 3, 130), (2, 5, 384), (2, 37, 96), (1, 70, 200)],
                         ids=lambda v: str(v))
def test_matches_reference(monkeypatch, dtype, batch, L, E):
    poison_allocations(monkeypatch)
    x = _in_proj_x(batch, L, E, dtype)
    assert x.stride() == (L * 2 * E, 2 * E, 1)
    w, b, w_b, b_b = _conv_params(E)
    y_f, y_b = bidirectional_conv1d(x, w, b, w_b, b_b)
    r_f, r_b = bidirectional_conv1d_ref(x.double(), w.double(), b.double(), w_b.double(), b_b.double())
    for y in (y_f, y_b):
        assert y.dtype == dtype and y.is_contiguous()
    assert_close("out_f", r_f, y_f, TOL[dtype])
    assert_close("out_b", r_b, y_b, TOL[dtype])


def test_small_blocks_no_bias_and_channel_major_view(monkeypatch):
    """Tiles smaller than L and E (halo across tiles), no bias, x as a transposed view."""
    poison_allocations(monkeypatch)
    batch, L, E = 2, 19, 21
    x = torch.randn(batch, E, L).transpose(1, 2)  # (batch, L, E) with channel stride L
    w, _, w_b, _ = _conv_params(E, bias=False)
    y_f, y_b = bidirectional_conv1d(x, w[:, 0, :], None, w_b, None, block_l=4, block_e=8, out_dtype=torch.bfloat16)
    r_f, r_b = bidirectional_conv1d_ref(x.double(), w.double(), None, w_b.double(), None)
    assert y_f.dtype == torch.bfloat16
    assert_close("out_f", r_f, y_f, 1e-2)
    assert_close("out_b", r_b, y_b, 1e-2)


def test_reference_is_the_official_conv1d_and_the_tap_formulas():
    """The reference equals PyTorch's Conv1d(padding=3)[..., :L] (forward) and the same
    conv on the flipped sequence flipped back (backward), and both equal the tap sums
    out_f[t] = silu(b + sum_k w[k] x[t-3+k]), out_b[t] = silu(b_b + sum_k w_b[k] x[t+3-k])."""
    batch, L, E = 2, 11, 6
    x = torch.randn(batch, L, E, dtype=torch.float64)
    conv = torch.nn.Conv1d(E, E, 4, groups=E, padding=3, bias=True).double().to(x.device)
    conv_b = torch.nn.Conv1d(E, E, 4, groups=E, padding=3, bias=True).double().to(x.device)
    with torch.no_grad():
        official_f = F.silu(conv(x.transpose(1, 2))[..., :L]).transpose(1, 2)
        official_b = F.silu(conv_b(x.transpose(1, 2).flip(-1))[..., :L]).flip(-1).transpose(1, 2)
        r_f = causal_conv1d_ref(x, conv.weight, conv.bias)
        r_b = causal_conv1d_ref(x, conv_b.weight, conv_b.bias, reverse=True)
    torch.testing.assert_close(r_f, official_f)
    torch.testing.assert_close(r_b, official_b)

    xp = F.pad(x, (0, 0, 3, 3))  # zeros at t < 0 and t >= L; xp[:, t + 3] = x[:, t]
    w, w_b = conv.weight.detach()[:, 0], conv_b.weight.detach()[:, 0]
    taps_f = sum(w[:, k] * xp[:, k:k + L] for k in range(4)) + conv.bias.detach()        # x[t-3+k]
    taps_b = sum(w_b[:, k] * xp[:, 6 - k:6 - k + L] for k in range(4)) + conv_b.bias.detach()  # x[t+3-k]
    torch.testing.assert_close(r_f, F.silu(taps_f))
    torch.testing.assert_close(r_b, F.silu(taps_b))
    assert not torch.allclose(r_f, r_b)


def test_bad_inputs_raise_clear_errors():
    x = torch.randn(1, 5, 8)
    w, b, w_b, b_b = _conv_params(8)
    with pytest.raises(ValueError, match="weight_b must be"):
        bidirectional_conv1d(x, w, b, torch.randn(8, 1, 3), b_b)
    with pytest.raises(ValueError, match="bias must be"):
        bidirectional_conv1d(x, w, torch.randn(7), w_b, b_b)
    with pytest.raises(ValueError, match=r"\(batch, L, E\)"):
        bidirectional_conv1d(x[0], w, b, w_b, b_b)
    with pytest.raises(ValueError, match="power of two"):
        bidirectional_conv1d(x, w, b, w_b, b_b, block_l=6)
    with pytest.raises(NotImplementedError, match="inference-only"):
        bidirectional_conv1d(x, w.requires_grad_(), b, w_b, b_b)


# ------------------------------------------------------------------ causal_conv1d_fn


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16], ids=str)
@pytest.mark.parametrize("width", [2, 3, 4])
@pytest.mark.parametrize("layout", ["bdl", "bld"])  # (batch, dim, L) contiguous | a view of (batch, L, dim)
@pytest.mark.parametrize("activation", [None, "silu"])
@pytest.mark.parametrize("batch,dim,L", [(1, 1, 1), (2, 19, 37), (1, 130, 5)], ids=lambda v: str(v))
def test_causal_conv1d_fn_matches_reference(monkeypatch, dtype, width, layout, activation, batch, dim, L):
    poison_allocations(monkeypatch)
    x64 = torch.randn(batch, dim, L, dtype=torch.float64) if layout == "bdl" else \
        torch.randn(batch, L, dim, dtype=torch.float64).transpose(1, 2)
    x = x64.to(dtype)
    weight, bias = torch.randn(dim, width) * 0.5, torch.randn(dim)
    out = causal_conv1d_fn(x, weight, bias, activation=activation)
    ref = causal_conv1d_fn_ref(x.double(), weight.double(), bias.double(), activation=activation)
    assert out.dtype == dtype and out.stride() == x.stride()  # laid out like x
    assert_close("out", ref, out, TOL[dtype])


def test_causal_conv1d_fn_without_bias_and_with_swish():
    x = torch.randn(2, 8, 11)
    weight = torch.randn(8, 4)
    ref = causal_conv1d_fn_ref(x.double(), weight.double(), None, activation="silu")
    assert_close("out", ref, causal_conv1d_fn(x, weight, activation="swish"), TOL[torch.float32])


def test_causal_conv1d_fn_reference_is_conv1d_and_the_vim_direction():
    """The reference is causal_conv1d's definition (F.conv1d, padding width - 1, first L
    outputs) and, at width 4 with SiLU, the forward Vim direction of causal_conv1d_ref."""
    x = torch.randn(2, 6, 13, dtype=torch.float64)
    for width in (2, 3, 4):
        w, b = torch.randn(6, width, dtype=torch.float64), torch.randn(6, dtype=torch.float64)
        conv = F.conv1d(x, w.unsqueeze(1), b, padding=width - 1, groups=6)[..., :13]
        torch.testing.assert_close(causal_conv1d_fn_ref(x, w, b), conv)
    torch.testing.assert_close(causal_conv1d_fn_ref(x, w, b, activation="silu"),
                               causal_conv1d_ref(x.transpose(1, 2), w, b).transpose(1, 2))


def test_causal_conv1d_fn_bad_inputs_raise_clear_errors():
    x = torch.randn(1, 8, 5)
    with pytest.raises(ValueError, match="width 2..4"):
        causal_conv1d_fn(x, torch.randn(8, 5))
    with pytest.raises(ValueError, match="width 2..4"):
        causal_conv1d_fn(x, torch.randn(8, 1, 4))
    with pytest.raises(ValueError, match="activation"):
        causal_conv1d_fn(x, torch.randn(8, 4), activation="relu")
    with pytest.raises(ValueError, match="bias must be"):
        causal_conv1d_fn(x, torch.randn(8, 4), torch.randn(7))
    with pytest.raises(NotImplementedError, match="inference-only"):
        causal_conv1d_fn(x, torch.randn(8, 4).requires_grad_())
