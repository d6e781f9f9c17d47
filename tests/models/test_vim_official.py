"""The paper's code path (variant "official") against vimbench's Vim and the literal
flip-based formulation, on stand-in ops (float64, CPU); the real kernels are checked on
the GPU by benchmarks/check_official.py (reports/official/)."""

import pytest
import torch
from official_fakes import FAKE_OPS
from test_vim_common import TINY, assert_close, flip_based_mixer, flip_based_vim_tokens, randomize_

import vimbench.models.vim_official as vim_official
from vimbench.models import create_model, get_model_spec
from vimbench.models.vim import VisionMamba, vim


@pytest.fixture
def fake_ops(monkeypatch):
    monkeypatch.setattr(vim_official, "load_official_ops", lambda: FAKE_OPS)


def _pair(img_size=32):
    """An official model and vimbench's torch-scan model with the same random weights."""
    ours = VisionMamba(img_size=img_size, scan_backend="torch", **TINY).double().eval()
    randomize_(ours)
    official = vim_official.OfficialVisionMamba(img_size=img_size, **TINY).double().eval()
    official.load_state_dict(ours.state_dict(), strict=True)
    return official, ours


@torch.no_grad()
@pytest.mark.parametrize("img_size", [32, 48])
def test_official_forward_equals_vimbench_and_flip_based(fake_ops, img_size):
    official, ours = _pair(img_size)
    images = torch.randn(2, 3, img_size, img_size, dtype=torch.float64)
    assert_close("features", ours.forward_features(images), official.forward_features(images), 1e-10)
    tokens = official.forward_features(images, return_tokens=True)
    assert_close("tokens vs flip-based", flip_based_vim_tokens(ours, images), tokens, 1e-10)
    assert tokens.shape == (2, (img_size // 16) ** 2 + 1, TINY["embed_dim"])


@torch.no_grad()
def test_official_mixer_equals_flip_based_on_random_tokens(fake_ops):
    official, _ = _pair()
    mixer = official.layers[1].mixer
    h = torch.randn(3, 11, TINY["embed_dim"], dtype=torch.float64)
    assert_close("mixer", flip_based_mixer(mixer, h), mixer(h), 1e-10)


@torch.no_grad()
def test_official_directions_differ(fake_ops):
    """Swapping the two directions' parameters changes the output: both are really used."""
    official, _ = _pair()
    mixer = official.layers[0].mixer
    h = torch.randn(2, 9, TINY["embed_dim"], dtype=torch.float64)
    before = mixer(h)
    for a, b in (("conv1d", "conv1d_b"), ("x_proj", "x_proj_b"), ("dt_proj", "dt_proj_b")):
        pa, pb = getattr(mixer, a), getattr(mixer, b)
        for name, _ in pa.named_parameters():
            ta, tb = getattr(pa, name), getattr(pb, name)
            tmp = ta.detach().clone()
            ta.copy_(tb)
            tb.copy_(tmp)
    assert (mixer(h) - before).abs().max() > 1e-6


def test_registry_and_timm_route_official(fake_ops):
    assert "official" in get_model_spec("vim_tiny").variants
    model = create_model("vim_tiny", "official", 32)
    assert isinstance(model, vim_official.OfficialVisionMamba)
    assert model.scan_backend == "official" and model.patch_embed.impl == "conv"
    assert isinstance(vim("tiny", img_size=32, scan_backend="official"), vim_official.OfficialVisionMamba)


def test_official_refuses_vimbench_only_options(fake_ops):
    with pytest.raises(ValueError, match="official code path"):
        vim_official.OfficialVisionMamba(img_size=32, fused=True, **TINY)
    with pytest.raises(ValueError, match="official code path"):
        vim_official.OfficialVisionMamba(img_size=32, patch_embed_impl="gemm", **TINY)
