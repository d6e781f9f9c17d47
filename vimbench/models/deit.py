"""DeiT-Ti/S/B from timm, random init, at any image size, in two attention variants.

- `eager`: explicit `softmax(q k^T / sqrt(d)) v`, the full N x N attention matrix in memory
  (most likely the paper's DeiT baseline);
- `sdpa`: `torch.nn.functional.scaled_dot_product_attention` (flash / memory-efficient
  kernels), what a user of timm runs today.

timm chooses between the two per attention module through its `fused_attn` attribute,
set from a global config at construction.  We set it on every module explicitly and
verify, once per process, that the installed timm honours it (a one-block model at 32 px
must call SDPA exactly once for `sdpa` and never for `eager`), so a timm that changes
the switch fails loudly instead of timing the wrong kernel.

What gets timed is `forward_features(images)` (the token features after the final norm).
No weights are downloaded: benchmarking speed and memory needs shapes, not training.
"""

from __future__ import annotations

import contextlib

from .registry import ModelSpec, register_model

ATTENTION_VARIANTS = ("eager", "sdpa")

_TIMM_NAMES = {
    "deit_tiny": "deit_tiny_patch16_224",
    "deit_small": "deit_small_patch16_224",
    "deit_base": "deit_base_patch16_224",
}

_verified: set[tuple[str, str]] = set()


def set_attention(model, variant: str) -> int:
    """Set every timm attention module of `model` to `variant`; returns how many were set."""
    if variant not in ATTENTION_VARIANTS:
        raise ValueError(f"unknown attention variant {variant!r}; allowed: {', '.join(ATTENTION_VARIANTS)}")
    modules = [m for m in model.modules() if hasattr(m, "fused_attn")]
    if not modules:
        import timm

        raise RuntimeError(f"timm {timm.__version__}: no attention module exposes `fused_attn`; "
                           "vimbench cannot choose the attention kernel with this timm version")
    for module in modules:
        module.fused_attn = variant == "sdpa"
    return len(modules)


@contextlib.contextmanager
def count_sdpa_calls():
    """Count calls of torch.nn.functional.scaled_dot_product_attention inside the block."""
    import torch.nn.functional as F

    original = F.scaled_dot_product_attention
    counter = {"calls": 0}

    def counting(*args, **kwargs):
        counter["calls"] += 1
        return original(*args, **kwargs)

    F.scaled_dot_product_attention = counting
    try:
        yield counter
    finally:
        F.scaled_dot_product_attention = original


def verify_attention_switch(timm_name: str, variant: str) -> None:
    """Check on a one-block 32 px model that timm runs the kernel `variant` asks for."""
    if (timm_name, variant) in _verified:
        return
    import timm
    import torch

    probe = timm.create_model(timm_name, pretrained=False, img_size=32, depth=1).eval()
    set_attention(probe, variant)
    with torch.inference_mode(), count_sdpa_calls() as counter:
        probe.forward_features(torch.randn(1, 3, 32, 32))
    expected = 1 if variant == "sdpa" else 0
    if counter["calls"] != expected:
        raise RuntimeError(f"timm {timm.__version__} ignored fused_attn={variant == 'sdpa'}: a one-block "
                           f"{timm_name} called scaled_dot_product_attention {counter['calls']} times, "
                           f"expected {expected} for attention variant {variant!r}")
    _verified.add((timm_name, variant))


def build_deit(name: str, variant: str, img_size: int):
    import timm

    timm_name = _TIMM_NAMES[name]
    verify_attention_switch(timm_name, variant)
    model = timm.create_model(timm_name, pretrained=False, img_size=img_size)
    set_attention(model, variant)
    return model.eval()


def _register(name: str, description: str) -> None:
    register_model(ModelSpec(
        name=name,
        family="deit",
        variant_kind="attention",
        variants=ATTENTION_VARIANTS,
        default_variant="sdpa",
        patch_size=16,
        builder=lambda variant, img_size: build_deit(name, variant, img_size),
        description=description,
    ))


_register("deit_tiny", "DeiT-Ti (timm deit_tiny_patch16_224: D=192, 12 blocks, 3 heads), random init")
_register("deit_small", "DeiT-S (timm deit_small_patch16_224: D=384, 12 blocks, 6 heads), random init")
_register("deit_base", "DeiT-B (timm deit_base_patch16_224: D=768, 12 blocks, 12 heads), random init")
