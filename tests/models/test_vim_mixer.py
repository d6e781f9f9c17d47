"""The flip-free bimamba v2 mixer against the official flip-based formulation, and proof
that its two directions are really two different directions."""


import pytest
import torch
import torch.nn.functional as F
from mamba_triton import selective_scan_ref
from test_vim_common import assert_close, flip_based_mixer, randomize_, rel_err

from vimbench.models.inference_weights import linear_weight
from vimbench.models.vim_mixer import BiMambaV2Mixer, depthwise_conv1d_silu


def _mixer(d_model=16, **kw):
    m = BiMambaV2Mixer(d_model, **kw).double()
    randomize_(m)
    return m


@pytest.mark.parametrize("anti_causal", [False, True], ids=["causal", "anti_causal"])
def test_depthwise_conv_matches_definition(anti_causal):
    batch, length, e, k = 2, 9, 5, 4
    x = torch.randn(batch, length, 2 * e, dtype=torch.float64)[..., :e]  # strided, like in_proj's x
    w, b = torch.randn(e, 1, k, dtype=torch.float64), torch.randn(e, dtype=torch.float64)
    got = depthwise_conv1d_silu(x, w, b, anti_causal=anti_causal)
    want = torch.empty_like(got)
    for t in range(length):
        acc = b.clone()
        for j in range(k):
            s = t + (k - 1 - j) if anti_causal else t - (k - 1) + j
            if 0 <= s < length:
                acc = acc + w[:, 0, j] * x[:, s]
        want[:, t] = F.silu(acc)
    assert_close("conv", want, got, 1e-12)


@pytest.mark.parametrize("length", [1, 5, 13])
def test_mixer_equals_official_flip_based_formulation(length):
    m = _mixer()
    h = torch.randn(2, length, 16, dtype=torch.float64)
    with torch.no_grad():
        assert_close("mixer", flip_based_mixer(m, h), m(h), 1e-10)


def _tie_backward_to_forward(m):
    with torch.no_grad():
        for fwd, bwd in [("conv1d", "conv1d_b"), ("x_proj", "x_proj_b"), ("dt_proj", "dt_proj_b")]:
            for name, p in getattr(m, bwd).named_parameters():
                p.copy_(getattr(getattr(m, fwd), name))
        m.A_b_log.copy_(m.A_log)
        m.D_b.copy_(m.D)


@torch.no_grad()
def test_directions_differ_reversal_is_not_mirrored():
    """With the backward branch tied to the forward one the mixer commutes with token
    reversal (a check that the backward scan really runs backwards); with independent
    parameters, as in Vim, it does not."""
    m = _mixer()
    h = torch.randn(2, 11, 16, dtype=torch.float64)
    untied_gap = rel_err(m(h.flip(1)).flip(1), m(h))
    _tie_backward_to_forward(m)
    tied_gap = rel_err(m(h.flip(1)).flip(1), m(h))
    assert tied_gap < 1e-12, f"tied directions should commute with reversal, gap {tied_gap:.2e}"
    assert untied_gap > 1e-2, f"independent directions gave a mirrored output (gap {untied_gap:.2e})"


@torch.no_grad()
def test_zeroing_backward_branch_leaves_only_forward_half():
    m = _mixer()
    h = torch.randn(2, 7, 16, dtype=torch.float64)
    full = m(h)
    m.conv1d_b.weight.zero_()
    m.conv1d_b.bias.zero_()  # u_b = silu(0) = 0, so y_b = 0
    half = m(h)
    assert rel_err(full, half) > 1e-2
    # what is left is exactly half of the forward branch alone
    x, z = (h @ m.in_proj.weight.T).chunk(2, dim=-1)
    u = depthwise_conv1d_silu(x, m.conv1d.weight, m.conv1d.bias, anti_causal=False)
    dt_low, b, c = m._ssm_inputs(u, "x_proj")
    dt = dt_low @ m.dt_proj.weight.T
    y_f = selective_scan_ref(u.mT, dt.mT, -torch.exp(m.A_log), b.mT, c.mT, m.D, z=z.mT,
                             delta_bias=m.dt_proj.bias, delta_softplus=True)
    assert_close("forward half", (y_f.mT / 2) @ m.out_proj.weight.T, half, 1e-10)


def test_mixer_init_is_official():
    m = BiMambaV2Mixer(32)
    n = m.d_state
    want_a_log = torch.log(torch.arange(1, n + 1, dtype=torch.float32)).expand(m.d_inner, n)
    for name in ("A_log", "A_b_log"):
        assert getattr(m, name).dtype == torch.float32
        assert torch.equal(getattr(m, name), want_a_log), name
    assert torch.equal(m.D, torch.ones(m.d_inner)) and torch.equal(m.D_b, torch.ones(m.d_inner))
    for dt_proj in (m.dt_proj, m.dt_proj_b):
        dt = F.softplus(dt_proj.bias)
        assert dt.min() >= 1e-4 * 0.999 and dt.max() <= 0.1 * 1.001
        assert dt.std() > 0  # drawn, not constant
        assert dt_proj.weight.abs().max() <= m.dt_rank ** -0.5


def test_official_backend_is_not_built_by_the_flip_free_mixer():
    with pytest.raises(ValueError, match="OfficialMixer"):
        BiMambaV2Mixer(16, scan_backend="official")


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="allowed: torch, triton, official"):
        BiMambaV2Mixer(16, scan_backend="cuda")


def test_mixer_trains_with_autograd_and_reuses_x_only_without_it():
    """Without autograd the scan writes into in_proj's spent x half (no extra output
    tensor); with autograd it must not (the conv's backward reads x), and gradients flow."""
    m = _mixer()
    h = torch.randn(2, 9, 16, dtype=torch.float64)
    with torch.no_grad():
        want = m(h)
    h.requires_grad_(True)
    got = m(h)
    got.square().sum().backward()
    assert_close("grad-enabled forward", want, got.detach(), 1e-12)
    assert h.grad is not None and torch.isfinite(h.grad).all() and h.grad.abs().sum() > 0
    assert m.dt_proj.weight.grad is not None and m.dt_proj.weight.grad.abs().sum() > 0


def test_padded_x_proj_weight_follows_weight_changes():
    """x_proj's weight padded with zero rows to a multiple of 8 outputs: the same dt_low, B
    and C, a changed weight is seen at once, and gradients reach both x_projs."""
    m = _mixer()
    r, n = m.dt_rank, m.d_state
    assert m.x_proj_pad == (-(r + 2 * n)) % 8 > 0
    padded = linear_weight(m, "x_proj", m.x_proj.weight, m.x_proj_pad)
    assert padded.shape[0] % 8 == 0 and torch.equal(padded[: r + 2 * n], m.x_proj.weight)
    assert not padded[r + 2 * n:].any()
    h = torch.randn(2, 7, 16, dtype=torch.float64)
    with torch.no_grad():
        first = m(h)
        m.x_proj_b.weight.mul_(1.5)  # in place, as load_state_dict does
        changed = m(h)
        assert_close("after the weight change", flip_based_mixer(m, h), changed, 1e-10)
        assert (changed - first).abs().max() > 1e-6
    with torch.inference_mode():  # inference tensors too (the harness builds models so)
        assert_close("inference mode", changed, m(h), 1e-12)
    m(h).sum().backward()
    assert m.x_proj.weight.grad is not None and m.x_proj.weight.grad.abs().sum() > 0
    assert m.x_proj_b.weight.grad is not None and m.x_proj_b.weight.grad.abs().sum() > 0
