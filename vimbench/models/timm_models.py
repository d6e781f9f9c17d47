"""Any timm model as a baseline: `timm:<name>` in a suite or on the command line, e.g.
`timm:vit_small_patch16_224`, `timm:swin_tiny_patch4_window7_224`, `timm:convnext_tiny`,
`timm:resnet101`.

    name        validated against timm's registry when the suite loads; an unknown name is an
                error there, with timm's close matches
    build       timm.create_model(name, pretrained=False): random init, nothing downloaded
    resolution  img_size=<px> for models that take it (ViT/DeiT/Swin-style: position embeddings
                and windows sized to it); models without that argument (CNNs) are built as they
                are and run at any size.  A size a model cannot run at is an error row of that
                cell, never a failure of the sweep (and never checked at suite load: timm knows)
    timed       `forward_features`, as for Vim and DeiT
    variant     one, "default": whatever timm chooses (e.g. its fused attention where the model
                has it), recorded as such in every row

The specs are made on demand (timm has over a thousand models), so `model_names()` lists only
vimbench's own; family "timm" keeps these rows out of the Vim / DeiT ratios and claims.
"""

from __future__ import annotations

import difflib

from .registry import ModelSpec

TIMM_PREFIX = "timm:"
FAMILY = "timm"
DEFAULT_VARIANT = "default"
NAME_HINT = ("a timm model name after 'timm:', e.g. timm:vit_small_patch16_224, timm:resnet101 "
             "(list them with python -c \"import timm; print(timm.list_models('vit_*'))\")")


def is_timm_name(name: str) -> bool:
    return name.startswith(TIMM_PREFIX)


def timm_spec(name: str) -> ModelSpec:
    """The spec of `timm:<arch>`; KeyError (naming close matches) when timm has no such model."""
    import timm

    arch = name[len(TIMM_PREFIX):]
    if not arch or not timm.is_model(arch):
        close = difflib.get_close_matches(arch, timm.list_models(), n=3, cutoff=0.6)
        hint = f"; did you mean {', '.join(TIMM_PREFIX + c for c in close)}?" if close else ""
        pattern = (arch.split("_")[0] or "vit") + "*"
        raise KeyError(f"timm has no model {arch!r}{hint} (see timm.list_models({pattern!r}))")
    return ModelSpec(
        name=name, family=FAMILY, variant_kind="variant", variants=(DEFAULT_VARIANT,),
        default_variant=DEFAULT_VARIANT, patch_size=None,
        builder=lambda variant, img_size: build_timm_model(arch, img_size),
        description=f"timm's {arch} (random init, forward_features)",
    )


def build_timm_model(arch: str, img_size: int):
    """timm's `arch` with random weights, sized to `img_size` where the model takes img_size."""
    import timm

    try:
        model = timm.create_model(arch, pretrained=False, img_size=img_size)
    except TypeError as exc:
        if "img_size" not in str(exc):
            raise
        # No img_size argument (a CNN: any input size runs); the model is as timm builds it.
        return timm.create_model(arch, pretrained=False)
    _check_patch_multiple(arch, model, img_size)
    return model


def _check_patch_multiple(arch: str, model, img_size: int) -> None:
    """timm's patch embedding drops the border of an image that is not a multiple of the patch
    (a 40 px ViT-S/16 sees 32 px): refuse that cell rather than time a smaller image."""
    patch = getattr(getattr(model, "patch_embed", None), "patch_size", None)
    if patch is None:
        return
    patch = tuple(patch) if isinstance(patch, (tuple, list)) else (patch, patch)
    bad = [p for p in patch if img_size % p]
    if bad:
        lower = img_size - img_size % bad[0]
        raise ValueError(f"timm:{arch} has patch size {bad[0]}; {img_size} px is not a multiple of it (timm would "
                         f"drop the border and time a {lower} px image): use a multiple of {bad[0]}, e.g. {lower} "
                         f"or {lower + bad[0]}")
