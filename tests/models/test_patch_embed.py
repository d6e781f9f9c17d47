"""The patch embedding as one GEMM (vimbench/models/patch_embed.py) computes the strided conv:
against F.conv2d with the same weights, in float64, float32 and under autocast, on
non-square images and patches, and through the whole Vim-Ti model."""

import pytest
import torch
import torch.nn.functional as F
from test_vim_common import randomize_
from torch.utils._python_dispatch import TorchDispatchMode

from vimbench.models.patch_embed import PatchEmbed, image_to_patches, patch_embed_conv, patch_embed_gemm
from vimbench.models.vim import vim
from vimbench.testing import TOLERANCE, assert_close

HAS_CUDA = torch.cuda.is_available()
TOL = {torch.float64: 1e-12, torch.float32: 1e-5}


pytestmark = pytest.mark.usefixtures("no_tf32")


def conv_tokens(x, weight, bias):
    """What the GEMM must equal: the conv with kernel = stride, flattened row-major."""
    return F.conv2d(x, weight, bias, stride=tuple(weight.shape[-2:])).flatten(2).transpose(1, 2)


def conv_weights(embed_dim, in_chans, ph, pw, dtype=torch.float32):
    return torch.randn(embed_dim, in_chans, ph, pw, dtype=dtype), torch.randn(embed_dim, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("batch, height, width, patch", [
    (1, 32, 32, (16, 16)),   # square
    (3, 48, 80, (16, 16)),   # non-square image: 3 x 5 patches
    (3, 64, 32, (16, 16)),   # taller than wide
    (1, 16, 16, (16, 16)),   # a single patch
    (3, 24, 40, (4, 8)),     # non-square patch
], ids=["1x32x32", "3x48x80", "3x64x32", "1x16x16", "3x24x40-p4x8"])
def test_gemm_equals_conv(dtype, batch, height, width, patch):
    weight, bias = conv_weights(24, 3, *patch, dtype=dtype)
    x = torch.randn(batch, 3, height, width, dtype=dtype)
    want = conv_tokens(x, weight, bias)
    got = patch_embed_gemm(x, weight, bias)
    assert got.dtype == dtype and got.is_contiguous()
    assert got.shape == (batch, (height // patch[0]) * (width // patch[1]), 24)
    assert_close("gemm vs conv", want, got, TOL[dtype])
    assert_close("reference path vs conv", want, patch_embed_conv(x, weight, bias), TOL[dtype])
    assert_close("gemm without bias", conv_tokens(x, weight, None), patch_embed_gemm(x, weight, None), TOL[dtype])


def test_patch_rows_are_in_conv_weight_order():
    """Row r of the patch matrix is patch (r // W/p, r % W/p) of image r // L, flattened (c, kh, kw)."""
    x = torch.randn(2, 3, 32, 48)
    patches = image_to_patches(x, 16, 16)
    assert patches.shape == (2 * 2 * 3, 3 * 16 * 16) and patches.is_contiguous()
    for r in range(patches.shape[0]):
        b, i, j = r // 6, (r % 6) // 3, r % 3
        assert torch.equal(patches[r], x[b, :, 16 * i:16 * (i + 1), 16 * j:16 * (j + 1)].reshape(-1))


def test_channels_last_and_sliced_inputs():
    weight, bias = conv_weights(16, 3, 16, 16)
    x = torch.randn(2, 3, 32, 64)
    want = conv_tokens(x, weight, bias)
    assert_close("channels_last", want, patch_embed_gemm(x.to(memory_format=torch.channels_last), weight, bias), 1e-5)
    wide = torch.randn(2, 3, 32, 96)
    assert_close("column slice", conv_tokens(wide[..., 16:80], weight, bias),
                 patch_embed_gemm(wide[..., 16:80], weight, bias), 1e-5)


@pytest.mark.parametrize("height, width", [(40, 32), (32, 50), (8, 8)])
def test_size_not_a_multiple_of_the_patch_is_a_clear_error(height, width):
    weight, bias = conv_weights(8, 3, 16, 16)
    x = torch.randn(1, 3, height, width)
    msg = f"input size {height}x{width} is not a multiple of the patch size 16x16"
    with pytest.raises(ValueError, match=msg):
        patch_embed_gemm(x, weight, bias)
    with pytest.raises(ValueError, match=msg):
        patch_embed_conv(x, weight, bias)
    with pytest.raises(ValueError, match=r"expects images \(batch, C, H, W\)"):
        patch_embed_gemm(x[0], weight, bias)


def test_module_keeps_the_conv_layout_and_both_impls_agree():
    embed = PatchEmbed((32, 48), 16, 3, 24)
    assert embed.impl == "gemm" and embed.num_patches == 6 and embed.grid_size == (2, 3)
    assert {k: tuple(v.shape) for k, v in embed.state_dict().items()} == {
        "proj.weight": (24, 3, 16, 16), "proj.bias": (24,)}
    randomize_(embed)
    x = torch.randn(3, 3, 32, 48)
    with torch.no_grad():
        got = embed(x)
        embed.impl = "conv"
        ref = embed(x)
    assert_close("module gemm vs conv", ref, got, 1e-5)
    with pytest.raises(ValueError, match="built for 32x48 images.*img_size=\\(48, 32\\)"):
        embed(torch.randn(1, 3, 48, 32))
    with pytest.raises(ValueError, match="unknown patch-embed impl 'unfold'; allowed: gemm, conv"):
        PatchEmbed((32, 32), 16, 3, 8, impl="unfold")


# Ops that make an image-sized tensor without reading or writing its data.
_NOT_COPIES = {"view", "_unsafe_view", "_reshape_alias", "permute", "expand", "as_strided", "empty", "empty_like",
               "empty_strided", "alias", "detach"}


class _CopyCounter(TorchDispatchMode):
    """Counts the ops that write a tensor as large as the image (copies of it)."""

    def __init__(self, numel):
        super().__init__()
        self.numel, self.copies = numel, []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        name = func._schema.name.split("::")[-1]
        if isinstance(out, torch.Tensor) and out.numel() == self.numel and name not in _NOT_COPIES:
            self.copies.append(func.__name__)
        return out


@pytest.mark.parametrize("autocast", [False, True], ids=["fp32", "autocast-bf16"])
def test_the_image_is_copied_once(autocast):
    """The unfold is one copy, and under autocast the cast rides on that same copy."""
    weight, bias = conv_weights(8, 3, 16, 16)  # weight numel 6144 != image numel 9216
    x = torch.randn(2, 3, 32, 48)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast), _CopyCounter(x.numel()) as counter:
        out = patch_embed_gemm(x, weight, bias)
    assert out.dtype == (torch.bfloat16 if autocast else torch.float32)
    assert len(counter.copies) == 1, counter.copies


def test_autocast_runs_the_gemm_in_the_autocast_dtype():
    weight, bias = conv_weights(32, 3, 16, 16)
    x = torch.randn(2, 3, 32, 64)
    want = conv_tokens(x.double(), weight.double(), bias.double())
    with torch.autocast("cpu", dtype=torch.bfloat16):
        got = patch_embed_gemm(x, weight, bias)
        conv = patch_embed_conv(x, weight, bias)
    assert got.dtype == conv.dtype == torch.bfloat16
    assert_close("autocast-bf16 gemm vs float64 conv", want, got, TOLERANCE[torch.bfloat16])
    # float64 is not an autocast dtype: left alone, as autocast leaves it
    x64, w64, b64 = x.double(), weight.double(), bias.double()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert patch_embed_gemm(x64, w64, b64).dtype == torch.float64


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["amp-fp16", "amp-bf16"])
def test_cuda_autocast_matches_conv(dtype):
    weight, bias = (t.cuda() for t in conv_weights(192, 3, 16, 16))
    x = torch.randn(4, 3, 96, 160, device="cuda")
    want = conv_tokens(x.double(), weight.double(), bias.double())
    with torch.autocast("cuda", dtype=dtype):
        got = patch_embed_gemm(x, weight, bias)
        conv = patch_embed_conv(x, weight, bias)
    assert got.dtype == conv.dtype == dtype
    assert_close("cuda autocast gemm", want, got, TOLERANCE[dtype])
    assert_close("cuda fp32 gemm", want, patch_embed_gemm(x, weight, bias), 1e-5)


@torch.no_grad()
def test_vim_tiny_output_unchanged_by_the_gemm():
    """Vim-Ti (D 192, E 384, N 16, dt_rank 12) at 64x64 in float32: GEMM patch embed vs the
    conv.  Depth 4 instead of 24: the patch embed feeds every depth alike, and the CPU scan
    reference takes ~0.3 s a block."""
    model = vim("tiny", img_size=64, scan_backend="torch", depth=4).eval()
    randomize_(model.patch_embed)  # a nonzero bias too (the init zeroes it)
    assert model.patch_embed.impl == "gemm"
    x = torch.randn(2, 3, 64, 64)
    tokens = model.forward_features(x, return_tokens=True)
    model.patch_embed.impl = "conv"
    ref = model.forward_features(x, return_tokens=True)
    assert_close("Vim-Ti tokens", ref, tokens, 1e-5)
    assert_close("Vim-Ti logits", model.head(ref[:, model.cls_index]), model.head(tokens[:, model.cls_index]), 1e-5)
