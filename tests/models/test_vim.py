"""Vim-Ti/S/B: sizes, checkpoint layout, shapes, dtypes, the official forward, registries."""

import math

import pytest
import timm
import torch
from test_vim_common import assert_close, flip_based_vim_tokens, randomize_, rel_err, tiny_vim

import vimbench.models as registry
from vimbench.models.vim import VIM_EMBED_DIMS, VisionMamba, vim

PARAMS_AT_224 = {"tiny": 7_148_008, "small": 25_796_584, "base": 97_598_440}


def official_state_dict_shapes(embed_dim: int, img_size: int = 224, depth: int = 24, num_classes: int = 1000):
    """Keys and shapes of an official Vim checkpoint, from the architecture facts alone
    (patch 16, N 16, expand 2, d_conv 4, dt_rank ceil(D/16), in_chans 3)."""
    d, e, n, k = embed_dim, 2 * embed_dim, 16, 4
    r = math.ceil(d / 16)
    tokens = (img_size // 16) ** 2 + 1
    shapes = {
        "cls_token": (1, 1, d), "pos_embed": (1, tokens, d),
        "patch_embed.proj.weight": (d, 3, 16, 16), "patch_embed.proj.bias": (d,),
        "norm_f.weight": (d,), "head.weight": (num_classes, d), "head.bias": (num_classes,),
    }
    for i in range(depth):
        p = f"layers.{i}."
        shapes[p + "norm.weight"] = (d,)
        shapes[p + "mixer.in_proj.weight"] = (2 * e, d)
        shapes[p + "mixer.out_proj.weight"] = (d, e)
        for s in ("", "_b"):
            shapes[p + f"mixer.conv1d{s}.weight"] = (e, 1, k)
            shapes[p + f"mixer.conv1d{s}.bias"] = (e,)
            shapes[p + f"mixer.x_proj{s}.weight"] = (r + 2 * n, e)
            shapes[p + f"mixer.dt_proj{s}.weight"] = (e, r)
            shapes[p + f"mixer.dt_proj{s}.bias"] = (e,)
            shapes[p + f"mixer.A{s}_log"] = (e, n)
            shapes[p + f"mixer.D{s}"] = (e,)
    return shapes


@pytest.mark.parametrize("size", list(PARAMS_AT_224))
def test_parameter_count_and_official_checkpoint_layout(size):
    with torch.device("meta"):  # sizes only: no memory, no init cost
        model = vim(size, img_size=224, scan_backend="torch")
    assert sum(p.numel() for p in model.parameters()) == PARAMS_AT_224[size]
    want = official_state_dict_shapes(VIM_EMBED_DIMS[size])
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == want
    assert sum(math.prod(s) for s in want.values()) == PARAMS_AT_224[size]


@torch.no_grad()
def test_official_state_dict_loads_strict_and_is_used():
    """A synthetic checkpoint in the official layout loads with strict=True into Vim-Ti,
    and every tensor lands where it should."""
    ckpt = {k: torch.randn(s) for k, s in official_state_dict_shapes(192).items()}
    model = vim("tiny", img_size=224, scan_backend="torch")
    model.load_state_dict(ckpt, strict=True)
    for k, v in model.state_dict().items():
        assert torch.equal(v, ckpt[k]), k


def test_pos_embed_is_sized_from_img_size():
    for img in (32, 48, 64, 1248):
        with torch.device("meta"):
            model = vim("tiny", img_size=img, scan_backend="torch")
        assert model.pos_embed.shape == (1, (img // 16) ** 2 + 1, 192)
        assert model.cls_index == (img // 16) ** 2 // 2


@pytest.mark.parametrize("img", [32, 48, 64, (32, 64)], ids=["32", "48", "64", "32x64"])
@torch.no_grad()
def test_output_shapes(img):
    model = tiny_vim(img_size=img)
    h, w = (img, img) if isinstance(img, int) else img
    m = (h // 16) * (w // 16)
    x = torch.randn(2, 3, h, w)
    feats = model.forward_features(x)
    tokens = model.forward_features(x, return_tokens=True)
    logits = model(x)
    assert feats.shape == (2, 32) and tokens.shape == (2, m + 1, 32) and logits.shape == (2, 1000)
    assert torch.allclose(tokens[:, m // 2], feats, atol=1e-6), "features are not the middle (cls) token"
    assert torch.allclose(logits, model.head(feats), atol=1e-6)


@torch.no_grad()
def test_forward_equals_official_flip_based_model():
    """The whole model (middle cls token, pos embed, fp32 residual, RMSNorm, norm_f) in
    float64 against a literal re-implementation of the official forward."""
    model = tiny_vim(img_size=48).double()
    randomize_(model)
    x = torch.randn(2, 3, 48, 48, dtype=torch.float64)
    want = flip_based_vim_tokens(model, x)
    assert_close("tokens", want, model.forward_features(x, return_tokens=True), 1e-10)
    assert_close("features", want[:, model.cls_index], model.forward_features(x), 1e-10)


@torch.no_grad()
def test_cls_token_sits_in_the_middle():
    """Moving the cls token's embedding changes exactly the token at index M // 2 of the
    input sequence: checked through the first mixer's causal/anti-causal reach."""
    model = tiny_vim(img_size=64)  # 16 patches, cls at 8
    x = torch.randn(1, 3, 64, 64)
    base = model.forward_features(x, return_tokens=True)
    model.cls_token.add_(1.0)
    moved = model.forward_features(x, return_tokens=True)
    changed = ((moved - base).abs().amax(-1) > 1e-6)[0]
    assert changed.all()  # every token sees the cls token through one of the two directions
    # and with the backward branch silenced, only tokens at or after the cls token do
    for layer in model.layers:
        layer.mixer.conv1d_b.weight.zero_()
        layer.mixer.conv1d_b.bias.zero_()
    base = model.forward_features(x, return_tokens=True)
    model.cls_token.sub_(1.0)
    moved = model.forward_features(x, return_tokens=True)
    changed = ((moved - base).abs().amax(-1) > 1e-6)[0]
    assert changed.tolist() == [False] * 8 + [True] * 9


@torch.no_grad()
def test_zeroing_backward_branches_changes_the_output():
    model = tiny_vim(img_size=32)
    x = torch.randn(2, 3, 32, 32)
    before = model(x)
    for layer in model.layers:
        layer.mixer.x_proj_b.weight.zero_()
        layer.mixer.dt_proj_b.weight.zero_()
        layer.mixer.D_b.zero_()
    assert rel_err(before, model(x)) > 1e-3


@torch.no_grad()
def test_finite_in_fp32_bf16_and_autocast():
    model = tiny_vim(img_size=48)
    x = torch.randn(2, 3, 48, 48)
    ref = model.forward_features(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        amp = model.forward_features(x)
    bf16 = model.to(torch.bfloat16).forward_features(x.to(torch.bfloat16))
    assert torch.isfinite(ref).all() and ref.dtype == torch.float32
    assert bf16.dtype == torch.bfloat16
    for name, got in [("amp-bf16", amp), ("bf16", bf16)]:
        assert torch.isfinite(got).all(), name
        assert rel_err(ref, got) < 5e-2, f"{name} drifted from fp32 by {rel_err(ref, got):.3e}"


def test_bad_resolutions_are_clear_errors():
    with pytest.raises(ValueError, match="multiples of the patch size 16"):
        tiny_vim(img_size=40)
    with pytest.raises(ValueError, match="not a multiple of the patch size 16"):
        registry.create_model("vim_tiny", "torch", img_size=40)
    model = tiny_vim(img_size=32)
    with pytest.raises(ValueError, match="built for 32x32 images.*img_size=48"):
        model(torch.randn(1, 3, 48, 48))
    with pytest.raises(ValueError, match="unknown Vim size 'huge'; allowed: tiny, small, base"):
        vim("huge")


def test_vimbench_registry():
    for size in VIM_EMBED_DIMS:
        spec = registry.get_model_spec(f"vim_{size}")
        assert (spec.family, spec.variant_kind, spec.variants, spec.default_variant, spec.patch_size) == (
            "vim", "scan_backend", ("torch", "triton", "triton-fused", "official"), "triton-fused", 16)
    with torch.device("meta"):
        model = registry.create_model("vim_small", "torch", img_size=64)
    assert isinstance(model, VisionMamba) and model.scan_backend == "torch"
    assert model.embed_dim == 384 and model.pos_embed.shape == (1, 17, 384)
    assert all(layer.mixer.scan_backend == "torch" for layer in model.layers)


@torch.no_grad()
def test_timm_registry():
    names = timm.list_models("vim_*")
    assert {"vim_tiny_patch16_224", "vim_small_patch16_224", "vim_base_patch16_224"} <= set(names)
    model = timm.create_model("vim_tiny_patch16_224", img_size=32, scan_backend="torch", depth=2).eval()
    assert isinstance(model, VisionMamba) and model.scan_backend == "torch" and model.embed_dim == 192
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 1000)
    with torch.device("meta"):
        default = timm.create_model("vim_base_patch16_224", scan_backend="torch")
    assert default.pos_embed.shape == (1, 197, 768)
    assert sum(p.numel() for p in default.parameters()) == PARAMS_AT_224["base"]
    with pytest.raises(ValueError, match="ships no weights"):
        timm.create_model("vim_tiny_patch16_224", pretrained=True, scan_backend="torch")
