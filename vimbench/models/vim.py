"""Vision Mamba (Vim-Ti/S/B), faithful to the official architecture (hustvl/Vim).

    image -> patch embed (conv 16/16, run as a GEMM) -> cls token inserted at the middle (index M // 2)
          -> + absolute position embedding (1, M + 1, D), sized to the build resolution
          -> 24 x [residual += hidden (fp32); hidden = mixer(RMSNorm(residual))]
          -> residual += hidden; norm_f -> features at the cls position -> head

The patch embedding (patch_embed.py) keeps the conv's weights but runs the conv as one GEMM
over the unfolded patches (cuDNN's layout conversions cost more than the conv at 1248 px).
Parameter names and shapes match the official checkpoints (`torch.load(path)["model"]`
loads with strict=True at the checkpoint's resolution).  The mixer is in vim_mixer.py;
the scan backend ("torch" | "triton") and the fused block kernels are constructor
arguments, kept in `model.scan_backend` and `model.fused`; left out (None), they follow
the device (vim_scan_backends.default_route: "triton" fused on CUDA, "torch" elsewhere).
scan_backend="official" builds the paper's own code path on the
official CUDA kernels instead (vim_official.py; same parameters, same function).

Registered under vimbench's registry as vim_tiny / vim_small / vim_base (variant = scan
backend) and under timm's as vim_{tiny,small,base}_patch16_224 (kwargs img_size,
scan_backend).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import lecun_normal_, trunc_normal_
from timm.models import register_model as timm_register_model

from .inference_weights import matmul_dtype
from .patch_embed import PatchEmbed
from .registry import ModelSpec, register_model
from .vim_fused_ops import FUSED_SUFFIX, check_fusable, load_add_rmsnorm, split_variant
from .vim_mixer import BiMambaV2Mixer, at_least_fp32
from .vim_scan_backends import FLIP_FREE_BACKENDS, OFFICIAL, check_device, default_route

IMAGENET_DEFAULT_MEAN = (0.485, 0.456, 0.406)
IMAGENET_DEFAULT_STD = (0.229, 0.224, 0.225)

# embed_dim per size; everything else (patch 16, depth 24, N 16, expand 2, d_conv 4,
# dt_rank ceil(D/16)) is shared.  Parameter counts with the 1000-class head at 224:
# tiny 7,148,008, small 25,796,584, base 97,598,440.
VIM_EMBED_DIMS = {"tiny": 192, "small": 384, "base": 768}


class RMSNorm(nn.Module):
    """RMSNorm with a weight only (as mamba_ssm's), computed in fp32.

    The output dtype is chosen by the caller: the residual stream is fp32, while the
    mixer runs in the activation dtype."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor, out_dtype: torch.dtype | None = None) -> torch.Tensor:
        x32 = at_least_fp32(x)
        y = F.rms_norm(x32, (x.shape[-1],), self.weight.to(x32.dtype), self.eps)
        return y.to(out_dtype or x.dtype)


class VimBlock(nn.Module):
    """residual += hidden (fp32) -> RMSNorm -> mixer.  Returns (hidden, residual), as the
    official Block does, so the add can be fused with the norm later.  Without autograd the
    fused block updates the given residual in place (and the first block returns an fp32
    hidden itself as the residual), so the model holds one residual stream, not two."""

    def __init__(self, dim: int, mixer: nn.Module, norm_eps: float = 1e-5, fused: bool = False):
        super().__init__()
        self.mixer = mixer
        self.norm = RMSNorm(dim, eps=norm_eps)
        # fused=True: the add and the norm in one Triton kernel (vim_fused_ops.py)
        self.fused = fused
        self._add_rmsnorm = load_add_rmsnorm() if fused else None

    def extra_repr(self) -> str:
        return f"fused={self.fused}"

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor | None):
        out_dtype = _mixer_input_dtype(hidden)
        if self.fused:
            # the residual is updated in place: the caller's reference to the previous one
            # would otherwise keep a second fp32 token map alive through the mixer
            in_place = residual is not None and not torch.is_grad_enabled()
            normed, residual = self._add_rmsnorm(hidden, residual, self.norm.weight, self.norm.eps,
                                                 out_dtype=out_dtype,
                                                 residual_out=residual if in_place else None)
            return self.mixer(normed), residual
        residual = at_least_fp32(hidden) if residual is None else residual + at_least_fp32(hidden)
        return self.mixer(self.norm(residual, out_dtype=out_dtype)), residual


def _mixer_input_dtype(hidden: torch.Tensor) -> torch.dtype:
    """The dtype the mixer's in_proj computes in: under autocast an fp32 input is cast to the
    autocast dtype anyway, so the norm writes that directly (the same rounding of the same
    fp32 value) instead of an fp32 tensor plus autocast's 16-bit copy of it - 0.84 GiB at the
    first block of Vim-Ti at 1248 px, batch 128, whose input is the fp32 token map."""
    return matmul_dtype(hidden)


class VisionMamba(nn.Module):
    def __init__(self, img_size: int | tuple[int, int] = 224, patch_size: int = 16, embed_dim: int = 192,
                 depth: int = 24, d_state: int = 16, expand: int = 2, d_conv: int = 4,
                 dt_rank: int | None = None, in_chans: int = 3, num_classes: int = 1000,
                 norm_eps: float = 1e-5, scan_backend: str | None = None, fused: bool | None = None,
                 patch_embed_impl: str = "gemm"):
        super().__init__()
        img_size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if len(img_size) != 2 or any(s <= 0 or s % patch_size for s in img_size):
            raise ValueError(f"Vim img_size {img_size} must be positive multiples of the patch size {patch_size}")
        if scan_backend is None:
            scan_backend, auto_fused = default_route()
            fused = auto_fused if fused is None else fused
        fused = bool(fused)
        if fused:
            check_fusable(scan_backend)
        self.scan_backend = scan_backend
        self.fused = fused  # Triton add+RMSNorm and conv1d kernels in every block (variant "<backend>-fused")
        self.num_classes = num_classes
        self.embed_dim = self.num_features = embed_dim

        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim, impl=patch_embed_impl)
        num_patches = self.patch_embed.num_patches
        self.cls_index = num_patches // 2  # the official "middle cls token"
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, num_patches + 1, embed_dim))
        self.layers = nn.ModuleList(
            self._make_block(embed_dim, dict(d_state=d_state, d_conv=d_conv, expand=expand, dt_rank=dt_rank), norm_eps)
            for _ in range(depth))
        self.norm_f = RMSNorm(embed_dim, eps=norm_eps)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        self._init_official_weights(depth)
        self.pretrained_cfg = self.default_cfg = dict(
            input_size=(in_chans, *img_size), num_classes=num_classes, mean=IMAGENET_DEFAULT_MEAN,
            std=IMAGENET_DEFAULT_STD, interpolation="bicubic", crop_pct=0.875,
            first_conv="patch_embed.proj", classifier="head")

    def _make_block(self, dim: int, mixer_kwargs: dict, norm_eps: float) -> nn.Module:
        mixer = BiMambaV2Mixer(dim, scan_backend=self.scan_backend, fused=self.fused, **mixer_kwargs)
        return VimBlock(dim, mixer, norm_eps, fused=self.fused)

    def _init_official_weights(self, depth: int) -> None:
        """As the official VisionMamba.__init__ (mixer-internal inits live in the mixer)."""
        with torch.no_grad():
            lecun_normal_(self.patch_embed.proj.weight)
            nn.init.zeros_(self.patch_embed.proj.bias)
            trunc_normal_(self.pos_embed, std=0.02)
            trunc_normal_(self.cls_token, std=0.02)
            if isinstance(self.head, nn.Linear):
                trunc_normal_(self.head.weight, std=0.02)
                nn.init.zeros_(self.head.bias)
            for layer in self.layers:
                # GPT-2 scheme: residual-branch output projections scaled by 1/sqrt(depth)
                out_proj = layer.mixer.out_proj.weight
                nn.init.kaiming_uniform_(out_proj, a=math.sqrt(5))
                out_proj /= math.sqrt(depth)

    @property
    def num_tokens(self) -> int:
        return self.pos_embed.shape[1]

    def forward_features(self, x: torch.Tensor, return_tokens: bool = False) -> torch.Tensor:
        """Images (batch, C, H, W) -> cls-token features (batch, D) after norm_f, or with
        return_tokens=True the whole normed token map (batch, M + 1, D), the cls token at
        index `self.cls_index`."""
        check_device(self.scan_backend, self.fused, x)
        tokens = self.patch_embed(x)
        c = self.cls_index
        hidden = torch.cat([tokens[:, :c], self.cls_token.expand(tokens.shape[0], -1, -1), tokens[:, c:]], dim=1)
        # in place, and no name left on the patch tokens: a second token-sized fp32 tensor
        # would stay alive through every layer (0.56 GiB for Vim-Ti at 1248 px, batch 128)
        del tokens
        hidden.add_(self.pos_embed)
        residual = None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        if return_tokens:
            return self.norm_f(residual + at_least_fp32(hidden), out_dtype=hidden.dtype)
        # Only the cls token is read: add and normalise that one alone.
        return self.norm_f(residual[:, c] + at_least_fp32(hidden[:, c]), out_dtype=hidden.dtype)

    def forward_head(self, features: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return features if pre_logits else self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def vim(size: str, img_size: int | tuple[int, int] = 224, scan_backend: str | None = None, device=None,
        **kwargs) -> VisionMamba:
    """Vim-Ti/S/B by size name ("tiny" | "small" | "base"); kwargs override VisionMamba's.

    scan_backend None (and no `fused`): the route follows `device` (where the model will run;
    default: CUDA if visible): "triton" with the fused block kernels on CUDA, "torch" elsewhere.
    The model is built on the CPU; `device` only picks the route."""
    if size not in VIM_EMBED_DIMS:
        raise ValueError(f"unknown Vim size {size!r}; allowed: {', '.join(VIM_EMBED_DIMS)}")
    if scan_backend is None:
        scan_backend, fused = default_route(device)
        kwargs["fused"] = kwargs["fused"] if kwargs.get("fused") is not None else fused
    if scan_backend == OFFICIAL:
        from .vim_official import OfficialVisionMamba

        return OfficialVisionMamba(img_size=img_size, embed_dim=VIM_EMBED_DIMS[size], **kwargs)
    return VisionMamba(img_size=img_size, embed_dim=VIM_EMBED_DIMS[size], scan_backend=scan_backend, **kwargs)


# --- vimbench registry -------------------------------------------------------------------

def _build_variant(size: str, variant: str, img_size: int) -> VisionMamba:
    """Variant = scan backend, with "-fused" for the fused block kernels ("triton-fused")."""
    scan_backend, fused = split_variant(variant)
    return vim(size, img_size=img_size, scan_backend=scan_backend, fused=fused)


# Training (mode "train"): the torch route through autograd; the Triton routes through
# mamba_triton's Triton backward kernels (vim_train_kernels.py).  The official build is
# forward-only.
TRAIN_UNSUPPORTED = {
    OFFICIAL: ("no backward pass: `python -m vimbench.official.build` compiles mamba_ssm's and causal_conv1d's "
               "forward kernels only (their backward entry points raise; issue 18); train Vim with variant "
               "'triton-fused' or 'triton' (Triton backward kernels), or 'torch' (up to 512 px)"),
}
# The reference scan is a Python loop over tokens whose autograd keeps every step's state: about
# 3 MB per token per image for Vim-Ti (saved-tensor hooks at 64-192 px), i.e. ~3 GB an image at
# 512 px and ~12 GB at 1024 px, and a few hundred small kernels per token a step (2 directions
# x 24 blocks x forward and backward).
TORCH_TRAIN_MAX_RESOLUTION = (512, "the PyTorch reference scan (a Python loop over tokens) keeps every token's state "
                                   "for autograd, about 3 MB per token per image for Vim-Ti (~12 GB an image at "
                                   "1024 px), and runs hundreds of thousands of small kernels a step")

for _size in VIM_EMBED_DIMS:
    register_model(ModelSpec(
        name=f"vim_{_size}", family="vim", variant_kind="scan_backend",
        variants=FLIP_FREE_BACKENDS + ("triton" + FUSED_SUFFIX, OFFICIAL),
        # The fused blocks compute the same function (tests/models/test_vim_fused.py) and ran
        # 2.9x faster on an H100 at 1248 px (reports/highres-h100), so they are the default.
        default_variant="triton" + FUSED_SUFFIX, patch_size=16,
        builder=lambda variant, img_size, _size=_size: _build_variant(_size, variant, img_size),
        train_unsupported=TRAIN_UNSUPPORTED, train_max_resolution={"torch": TORCH_TRAIN_MAX_RESOLUTION},
        description=f"Vision Mamba {_size} (D={VIM_EMBED_DIMS[_size]}, depth 24, middle cls token, "
                    "bimamba v2), official architecture",
    ))


# --- timm registry -----------------------------------------------------------------------

def _create_for_timm(size: str, pretrained: bool, **kwargs) -> VisionMamba:
    for timm_only in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(timm_only, None)
    if pretrained:
        raise ValueError(f"vim_{size}: vimbench ships no weights; build with pretrained=False and load an official "
                         "checkpoint with model.load_state_dict(torch.load(path)['model']) at its resolution")
    device, dtype = kwargs.pop("device", None), kwargs.pop("dtype", None)
    kwargs.setdefault("img_size", 224)
    model = vim(size, device=device, **kwargs)  # no scan_backend given: the route follows the device
    return model.to(device=device, dtype=dtype) if device is not None or dtype is not None else model


@timm_register_model
def vim_tiny_patch16_224(pretrained: bool = False, **kwargs) -> VisionMamba:
    """Vim-Ti (7.1M params at 224). kwargs: img_size (multiple of 16), scan_backend, fused (default: by device)."""
    return _create_for_timm("tiny", pretrained, **kwargs)


@timm_register_model
def vim_small_patch16_224(pretrained: bool = False, **kwargs) -> VisionMamba:
    """Vim-S (25.8M params at 224). kwargs: img_size (multiple of 16), scan_backend, fused (default: by device)."""
    return _create_for_timm("small", pretrained, **kwargs)


@timm_register_model
def vim_base_patch16_224(pretrained: bool = False, **kwargs) -> VisionMamba:
    """Vim-B (97.6M params at 224). kwargs: img_size (multiple of 16), scan_backend, fused (default: by device)."""
    return _create_for_timm("base", pretrained, **kwargs)
