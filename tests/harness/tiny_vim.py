"""Test-only `vim_micro`: vim_tiny's registry entry (variants, train support and limits) on a
Vim small enough for the Triton interpreter (D 32, depth 1), loaded by suites as a plugin.

    plugins = ["tests.harness.tiny_vim"]
"""

import dataclasses

from vimbench.models.registry import get_model_spec, model_names, register_model
from vimbench.models.vim import VisionMamba
from vimbench.models.vim_fused_ops import split_variant


def _build(variant: str, img_size: int) -> VisionMamba:
    scan_backend, fused = split_variant(variant)
    return VisionMamba(img_size=img_size, embed_dim=32, depth=1, scan_backend=scan_backend, fused=fused)


if "vim_micro" not in model_names():
    register_model(dataclasses.replace(get_model_spec("vim_tiny"), name="vim_micro", builder=_build,
                                       description="test-only Vim: vim_tiny's entry, D 32, depth 1"))
