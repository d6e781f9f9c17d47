"""Vim with fused=True (the Triton add+RMSNorm and bidirectional conv1d kernels in every
block) computes the same function as the unfused model and as the official flip-based
formulation (CPU under TRITON_INTERPRET=1; CUDA when present)."""

import pytest
import torch
from test_vim_common import assert_close, flip_based_vim_tokens, randomize_, tiny_vim

from vimbench.models import create_model, get_model_spec

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


pytestmark = pytest.mark.usefixtures("no_tf32")


def _pair(scan_backend, img_size=32):
    """An unfused and a fused tiny Vim with the same random (perturbed) weights."""
    unfused = tiny_vim(img_size=img_size, scan_backend=scan_backend)
    randomize_(unfused)
    fused = tiny_vim(img_size=img_size, scan_backend=scan_backend, fused=True)
    fused.load_state_dict(unfused.state_dict())
    return unfused.to(DEVICE), fused.to(DEVICE)


@pytest.mark.parametrize("scan_backend", ["torch", "triton"])
def test_fused_matches_unfused_and_official_fp32(scan_backend):
    unfused, fused = _pair(scan_backend, img_size=48)  # 9 patches + cls: odd L = 10
    images = torch.randn(2, 3, 48, 48, device=DEVICE)
    with torch.no_grad():
        tokens_fused = fused.forward_features(images, return_tokens=True)
        tokens_unfused = unfused.forward_features(images, return_tokens=True)
        official = flip_based_vim_tokens(unfused.double(), images.double())
        cls_fused = fused.forward_features(images)
    assert_close("fused vs unfused tokens", tokens_unfused, tokens_fused, 1e-5)
    assert_close("fused vs official (float64) tokens", official, tokens_fused, 1e-5)
    assert_close("cls features", tokens_unfused[:, fused.cls_index], cls_fused, 1e-5)


def test_fused_matches_unfused_bf16():
    unfused, fused = _pair("torch")
    images = torch.randn(2, 3, 32, 32, device=DEVICE)
    with torch.no_grad():
        ref = unfused.double().forward_features(images.double(), return_tokens=True)
        got = fused.bfloat16().forward_features(images.bfloat16(), return_tokens=True)
    assert got.dtype == torch.bfloat16
    assert_close("fused bf16 vs float64", ref, got, 2e-2)


def test_fused_variant_is_registered_and_recorded():
    spec = get_model_spec("vim_tiny")
    assert "triton-fused" in spec.variants and "triton" in spec.variants
    with torch.device("meta"):
        fused = create_model("vim_tiny", "triton-fused", img_size=32)
        plain = create_model("vim_tiny", "triton", img_size=32)
    assert fused.fused and fused.scan_backend == "triton" and "fused=True" in repr(fused.layers[0])
    assert not plain.fused


def test_fused_refuses_the_mamba_ssm_route():
    with pytest.raises(ValueError, match="fused"):
        tiny_vim(scan_backend="mamba_ssm", fused=True)
