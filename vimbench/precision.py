"""Precision policies: how weights, inputs and matmuls are typed for one cell.

A policy is recorded in every row (`precision`, `param_dtype`, `autocast_dtype`, `tf32`),
because "fp32" means nothing without saying whether TF32 matmuls were allowed.

    fp32      weights and inputs float32, TF32 off (true float32 matmuls)
    tf32      weights and inputs float32, TF32 matmuls and convolutions allowed
    amp-fp16  float32 weights, autocast to float16 (softmax/norms stay float32 under autocast)
    amp-bf16  float32 weights, autocast to bfloat16
    fp16      weights and inputs cast to float16, no autocast
    bf16      weights and inputs cast to bfloat16, no autocast
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass


@dataclass(frozen=True)
class PrecisionPolicy:
    name: str
    param_dtype: str            # dtype of weights and inputs: "float32" | "float16" | "bfloat16"
    autocast_dtype: str | None  # autocast target, None when autocast is off
    tf32: bool                  # TF32 allowed in matmuls/convolutions
    description: str

    def torch_param_dtype(self):
        import torch

        return getattr(torch, self.param_dtype)

    def autocast(self, device_type: str):
        """The autocast context for this policy (a no-op context when autocast is off)."""
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        import torch

        return torch.autocast(device_type=device_type, dtype=getattr(torch, self.autocast_dtype))

    def set_tf32(self) -> None:
        """Set TF32 explicitly (never rely on PyTorch's default, which has changed across versions)."""
        import torch

        torch.backends.cuda.matmul.allow_tf32 = self.tf32
        torch.backends.cudnn.allow_tf32 = self.tf32


PRECISIONS: dict[str, PrecisionPolicy] = {
    p.name: p
    for p in (
        PrecisionPolicy("fp32", "float32", None, False, "float32 weights and inputs, TF32 off"),
        PrecisionPolicy("tf32", "float32", None, True, "float32 weights and inputs, TF32 matmuls allowed"),
        PrecisionPolicy("amp-fp16", "float32", "float16", False, "float32 weights, autocast to float16"),
        PrecisionPolicy("amp-bf16", "float32", "bfloat16", False, "float32 weights, autocast to bfloat16"),
        PrecisionPolicy("fp16", "float16", None, False, "weights and inputs cast to float16"),
        PrecisionPolicy("bf16", "bfloat16", None, False, "weights and inputs cast to bfloat16"),
    )
}


def get_policy(name: str) -> PrecisionPolicy:
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}; allowed: {', '.join(PRECISIONS)}") from None
