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


def test_fused_refuses_the_official_route():
    with pytest.raises(ValueError, match="fused"):
        tiny_vim(scan_backend="official", fused=True)


class _Capture(torch.nn.Module):
    """Stands in for a mixer: records what the block's norm hands it, returns it."""

    def __init__(self):
        super().__init__()
        self.seen = []

    def forward(self, x):
        self.seen.append(x)
        return x


@pytest.mark.parametrize("fused", [False, True], ids=["unfused", "fused"])
def test_first_block_normalises_into_the_autocast_dtype(fused):
    """Under autocast the norm writes the mixer's input in the autocast dtype, bit for bit
    what in_proj's autocast cast of the fp32 norm would give; without autocast it stays
    fp32.  The fused first block keeps the fp32 token map itself as the residual."""
    model = tiny_vim(img_size=32, scan_backend="torch", fused=fused).to(DEVICE)
    block = model.layers[0]
    block.norm.weight.data.uniform_(0.5, 1.5)
    block.mixer = _Capture()
    hidden = torch.randn(2, 5, model.embed_dim, device=DEVICE)
    want = torch.nn.functional.rms_norm(hidden, (model.embed_dim,), block.norm.weight, block.norm.eps)
    device_type = torch.device(DEVICE).type
    with torch.no_grad():
        with torch.autocast(device_type, dtype=torch.bfloat16):
            _, residual = block(hidden, None)
        _, residual_fp32 = block(hidden, None)
    normed_amp, normed_fp32 = block.mixer.seen
    assert normed_amp.dtype == torch.bfloat16 and normed_fp32.dtype == torch.float32
    assert_close("fp32 norm", want, normed_fp32, 1e-6)
    # one rounding of (nearly) the same fp32 value: equal to the cast, up to a last-bit tie
    assert (normed_amp.float() - want.to(torch.bfloat16).float()).abs().max() <= 2 ** -7 * want.abs().max()
    assert residual.dtype == torch.float32 and torch.equal(residual, hidden)
    if fused:
        assert residual is hidden and residual_fp32 is hidden
        # later blocks update the residual stream in place (no second fp32 token map)
        stream = torch.randn_like(hidden)
        want_stream = stream + hidden
        with torch.no_grad():
            _, updated = block(hidden, stream)
        assert updated is stream
        assert_close("residual stream", want_stream, stream, 1e-6)
