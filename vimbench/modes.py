"""Modes: what one timed call of a cell does, a sweep axis recorded in each row (`mode`).

    infer   one forward of `forward_features` without autograd (the paper's setting; the default)
    train   one training step: forward_features, a scalar loss on the pooled features, backward,
            an AdamW step (train_step.py)

Training is measured like inference (the same warm-up, timed loop and memory pass; the timed
call is the whole step), but it combines with fewer axes, checked when a suite is loaded:

- exec_mode `eager` only: the CUDA-graph and compile paths (exec_modes.py) wrap a forward
  under no_grad and capture no backward or optimizer step;
- precisions fp32, amp-fp16 and amp-bf16: float32 master weights, as mixed-precision training
  keeps them; fp16/bf16 cast the weights themselves (AdamW's update would round away in 16
  bits) and tf32 is left out of the training axis to keep it to the three usual recipes;
- a model's per-variant resolution limit (`ModelSpec.train_max_resolution`): Vim's `torch`
  scan, a Python loop over tokens, keeps every token's state for autograd.

A variant without a backward pass (`ModelSpec.train_unsupported`: Vim's forward-only official
build, today) is not refused at load: each of its train cells becomes an
error row naming what is missing, so a suite keeps its cells and runs them once kernels land.
"""

from __future__ import annotations

INFER = "infer"
TRAIN = "train"
MODES = (INFER, TRAIN)
DESCRIPTIONS = {
    INFER: "forward_features without autograd (default)",
    TRAIN: "one training step: forward_features, mean-square loss of the token-mean features, backward, AdamW step",
}
TRAIN_EXEC_MODES = ("eager",)
TRAIN_PRECISIONS = ("fp32", "amp-fp16", "amp-bf16")


def train_refusal(spec, variant: str, resolution: int, precision: str, exec_mode: str) -> tuple[str, str, str] | None:
    """Why a train cell cannot be measured at all, as (axis, problem, allowed); None when it can.

    axis is the suite key at fault ("exec_modes", "precisions" or "resolutions")."""
    if exec_mode not in TRAIN_EXEC_MODES:
        return ("exec_modes", f"mode 'train' runs {' or '.join(TRAIN_EXEC_MODES)} only, not {exec_mode!r} "
                "(CUDA graphs and compile are set up for a forward without autograd here)",
                ", ".join(TRAIN_EXEC_MODES) + " with mode train; other exec modes in an entry with modes = [\"infer\"]")
    if precision not in TRAIN_PRECISIONS:
        return ("precisions", f"mode 'train' runs float32 weights, plain or under autocast, not precision "
                f"{precision!r}",
                ", ".join(TRAIN_PRECISIONS) + " with mode train")
    limit = spec.train_max_resolution.get(variant)
    if limit is not None and resolution > limit[0]:
        max_px, why = limit
        return ("resolutions", f"{spec.name} {spec.variant_kind} {variant!r} trains only up to {max_px} px, "
                f"not {resolution}: {why}", f"resolutions <= {max_px} for {spec.name}:{variant} with mode train")
    return None
