"""Display names for models, variants and memory metrics, shared by tables, plots and claims."""

from __future__ import annotations

import re

_FAMILY = {"deit": "DeiT", "vim": "Vim"}
TIMM_PREFIX = "timm:"  # as vimbench.models.timm_models (not imported: the report reads rows, not models)
_SIZE = {"tiny": "Ti", "small": "S", "base": "B"}

# Memory metric name (as on the command line) -> (row field, human description).
MEMORY_METRICS = {
    "allocated": ("mem_max_allocated_bytes", "max allocated (torch.cuda.max_memory_allocated: live tensors)"),
    "reserved": ("mem_max_reserved_bytes", "max reserved (torch caching allocator)"),
    "nvml": ("mem_nvml_process_bytes", "NVML process memory (what nvidia-smi shows, CUDA context included)"),
}
DEFAULT_MEMORY_METRIC = "allocated"

GB = 1e9  # memory is shown in GB = 10^9 bytes, the unit of the paper's Figure 1


def model_name(model: str) -> str:
    """'deit_tiny' -> 'DeiT-Ti'; 'timm:resnet101' -> 'resnet101 (timm)'; unknown names as they are."""
    if model.startswith(TIMM_PREFIX):
        return f"{model[len(TIMM_PREFIX):]} (timm)"
    family, _, size = model.partition("_")
    if family in _FAMILY and size in _SIZE:
        return f"{_FAMILY[family]}-{_SIZE[size]}"
    return model


def series_label(model: str, variant: str) -> str:
    """'DeiT-Ti (eager)': a model and the attention kernel or scan backend it ran with; a timm
    baseline in its one variant is its name alone ('resnet101 (timm)')."""
    if family(model) == "timm" and variant == "default":
        return model_name(model)
    return f"{model_name(model)} ({variant})" if variant else model_name(model)


def family(model: str) -> str:
    """'vim' | 'deit' | 'timm' (any `timm:` baseline) | the name's first part."""
    if model.startswith(TIMM_PREFIX):
        return "timm"
    return model.partition("_")[0]


def counterpart(vim_model: str) -> str | None:
    """The DeiT a Vim is compared with: same size ('vim_tiny' -> 'deit_tiny')."""
    fam, _, size = vim_model.partition("_")
    return f"deit_{size}" if fam == "vim" and size else None


def file_safe(label: str) -> str:
    """A run label or condition as a file-name part."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label)
