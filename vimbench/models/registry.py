"""The models vimbench can sweep, by name, with their variant dimension.

A variant is the one implementation choice that changes speed but not the function:
the attention kernel for DeiT ("eager" | "sdpa" | "sdpa-flash" | "sdpa-cudnn" |
"sdpa-efficient" | "sdpa-math"), the scan backend for Vim ("torch" | "triton" | ...; see
`vimbench list models`).  It is an explicit argument, recorded in every row.

Besides the registered models, any timm model is a baseline under `timm:<name>`
(timm_models.py; its spec is made when asked for, variant "default").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelSpec:
    name: str                      # e.g. "deit_tiny", "vim_tiny"
    family: str                    # "deit" | "vim" | "timm"
    variant_kind: str              # "attention" | "scan_backend" | "variant" (timm: "default" only)
    variants: tuple[str, ...]
    default_variant: str
    patch_size: int | None         # None: any resolution is tried (the model decides; timm baselines)
    # (variant, img_size) -> nn.Module whose forward_features(images) is what gets timed
    builder: Callable[..., object]
    description: str = ""
    # (variant, forward) -> the attention backend a cell's timed call `forward()` runs
    # (recorded as the row's `attention_backend`); None for a model without attention
    attention_backend: Callable[[str, Callable[[], object]], str] | None = None
    # Training (mode "train", vimbench/modes.py).  A variant listed here has no backward pass:
    # variant -> what is missing, the message of its train cells' error rows.  Every other
    # variant trains through autograd (PyTorch's, or the backward a kernel defines).
    train_unsupported: Mapping[str, str] = field(default_factory=dict)
    # variant -> (largest resolution in px, why): train cells above it are refused at suite load
    train_max_resolution: Mapping[str, tuple[int, str]] = field(default_factory=dict)

    def train_blocker(self, variant: str) -> str | None:
        """Why `variant` cannot run a training step (no backward pass), or None when it can."""
        return self.train_unsupported.get(variant)

    def tokens(self, resolution: int) -> int | None:
        """Sequence length at this resolution: patches plus the cls token (None: not a patch model)."""
        if self.patch_size is None:
            return None
        return (resolution // self.patch_size) ** 2 + 1


_MODELS: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec) -> ModelSpec:
    if spec.name in _MODELS:
        raise ValueError(f"model {spec.name!r} is registered twice")
    if spec.default_variant not in spec.variants:
        raise ValueError(f"{spec.name}: default variant {spec.default_variant!r} not in {spec.variants}")
    _MODELS[spec.name] = spec
    return spec


def model_names() -> list[str]:
    return sorted(_MODELS)


def get_model_spec(name: str) -> ModelSpec:
    from .timm_models import is_timm_name, timm_spec

    if is_timm_name(name):
        return timm_spec(name)
    try:
        return _MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(model_names())}") from None


def create_model(name: str, variant: str | None = None, img_size: int = 224):
    """Build a model for feature extraction at `img_size` (position embedding sized to it)."""
    spec = get_model_spec(name)
    variant = variant or spec.default_variant
    if variant not in spec.variants:
        raise ValueError(f"model {name!r}: unknown {spec.variant_kind} {variant!r}; "
                         f"allowed: {', '.join(spec.variants)}")
    if spec.patch_size is not None and img_size % spec.patch_size:
        raise ValueError(f"model {name!r}: resolution {img_size} is not a multiple of the patch size {spec.patch_size}")
    return spec.builder(variant, img_size)
