"""Non-overlapping patch embedding as one GEMM instead of a strided convolution.

A conv with kernel = stride = patch (ph, pw) sees every pixel exactly once, so it is a
matrix product: cut the image (B, C, H, W) into patches (B * H/ph * W/pw, C * ph * pw),
each flattened in the (c, kh, kw) order of the conv weight, and multiply by
weight.view(D, C * ph * pw).T, plus the bias.

Why: on an H100 (Vim-Ti, 1248 px, batch 128, amp-fp16) cuDNN ran this conv as an
NCHW->NHWC conversion (8.35 ms), an implicit GEMM (7.06 ms) and a conversion back
(0.31 ms).  Here the image is read once and written once, as the patch matrix (in the
autocast dtype when autocast is on, so the cast rides on the same copy), and the GEMM is
a plain (B*L, 768) x (768, D) matmul.

The weights stay in a Conv2d (`proj`), so checkpoints keep the `patch_embed.proj.weight`
(D, C, ph, pw) / `.bias` layout.  `impl="conv"` runs that conv as it is (the reference).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .inference_weights import matmul_dtype

PATCH_EMBED_IMPLS = ("gemm", "conv")


def _patch_grid(x: torch.Tensor, weight: torch.Tensor) -> tuple[int, int, int, int]:
    """(patch height, patch width, patches down, patches across); a clear error otherwise."""
    if x.dim() != 4:
        raise ValueError(f"patch embedding expects images (batch, C, H, W); got shape {tuple(x.shape)}")
    ph, pw = weight.shape[-2:]
    h, w = x.shape[-2:]
    if h % ph or w % pw:
        raise ValueError(f"patch embedding: input size {h}x{w} is not a multiple of the patch size {ph}x{pw}")
    return ph, pw, h // ph, w // pw


def image_to_patches(x: torch.Tensor, ph: int, pw: int, dtype: torch.dtype | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B * H/ph * W/pw, C * ph * pw), rows in row-major patch order, each
    row in (c, kh, kw) order; contiguous, made with one copy (which also casts to `dtype`)."""
    b, c, h, w = x.shape
    hp, wp = h // ph, w // pw
    tiles = x.view(b, c, hp, ph, wp, pw).permute(0, 2, 4, 1, 3, 5)  # (B, H/ph, W/pw, C, ph, pw)
    if dtype is None or dtype == x.dtype:
        return tiles.reshape(b * hp * wp, c * ph * pw)
    # Cast and transpose in one pass: x.to(dtype) first would be a second full-image copy.
    out = torch.empty((b, hp, wp, c, ph, pw), dtype=dtype, device=x.device)
    return out.copy_(tiles).view(b * hp * wp, c * ph * pw)


def patch_embed_gemm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """Images (B, C, H, W) -> tokens (B, H/ph * W/pw, D) with conv weight (D, C, ph, pw):
    the same function as `patch_embed_conv`, as one GEMM."""
    ph, pw, hp, wp = _patch_grid(x, weight)
    dtype = matmul_dtype(x)
    patches = image_to_patches(x, ph, pw, dtype)
    w2d = weight.reshape(weight.shape[0], -1)
    if dtype != x.dtype:  # autocast: F.linear would cast these too; done here so the dtypes surely agree
        w2d = w2d.to(dtype)
        bias = bias.to(dtype) if bias is not None else None
    return F.linear(patches, w2d, bias).view(x.shape[0], hp * wp, weight.shape[0])


def patch_embed_conv(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """The reference: the strided conv, flattened to tokens (B, H/ph * W/pw, D)."""
    ph, pw, _, _ = _patch_grid(x, weight)
    return F.conv2d(x, weight, bias, stride=(ph, pw)).flatten(2).transpose(1, 2)


class PatchEmbed(nn.Module):
    """Non-overlapping patches -> tokens (batch, M, D), row-major.

    `impl` "gemm" (default) or "conv" (the reference); both compute the same function from
    the same `proj` Conv2d weights.  The input must be the size the model was built for."""

    def __init__(self, img_size: tuple[int, int], patch_size: int, in_chans: int, embed_dim: int,
                 impl: str = "gemm"):
        super().__init__()
        if impl not in PATCH_EMBED_IMPLS:
            raise ValueError(f"unknown patch-embed impl {impl!r}; allowed: {', '.join(PATCH_EMBED_IMPLS)}")
        self.img_size = tuple(img_size)
        self.patch_size = patch_size
        self.grid_size = (img_size[0] // patch_size, img_size[1] // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.impl = impl
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def extra_repr(self) -> str:
        return f"img_size={self.img_size}, impl={self.impl!r}"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        if (h, w) != self.img_size:
            raise ValueError(f"the model was built for {self.img_size[0]}x{self.img_size[1]} images (its position "
                             f"embedding is sized to that) but got {h}x{w}; "
                             f"build it with img_size={h if h == w else (h, w)}")
        if self.impl == "conv":
            return patch_embed_conv(x, self.proj.weight, self.proj.bias)
        return patch_embed_gemm(x, self.proj.weight, self.proj.bias)
