"""Tensors a Vim block derives from its parameters, kept between inference calls.

Every call of a Vim mixer derives tensors from its parameters: A = -exp(A_log) for each
direction, x_proj's weight padded to a multiple of 8 rows, and under autocast the 16-bit
copies of the in, x and out projection weights.  That is ten small kernels a block, 240 a
Vim-Ti forward: launches the host must issue one by one (eager Vim-Ti at 224 px is
host-bound) plus a few microseconds of GPU time each, in a CUDA graph too.

Without autograd they are computed once and reused while their sources are unchanged: the
key holds each source's identity, storage, dtype, device and version counter (bumped by every
in-place update: optimizer steps, `p.data.copy_`), and the caller's tag (the autocast dtype);
load_state_dict empties the cache (a post-hook), inference tensors included.  Recomputed on every call instead:
  - with autograd enabled (training must see the ops, and gets fresh tensors),
  - while torch.compile traces (the compiler sees and fuses them itself),
  - on a miss during CUDA-graph capture (the graph then replays the kernels; a hit reads the
    persistent tensor, so a graph captured after a warm-up call skips them).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch
import torch.nn as nn

# Off: every call derives afresh (the behaviour before this cache), for A/B timing.
ENABLED = True
CACHE_ATTR = "_inference_weights"


def _version(t: torch.Tensor) -> int:
    # Inference tensors (a model built under torch.inference_mode, as the harness does) keep
    # no version counter: their in-place updates, possible only inside inference_mode, are
    # not seen here, except load_state_dict's (forget() runs after every load).
    return -1 if t.is_inference() else t._version


def _key(sources: tuple[torch.Tensor, ...], tag: Hashable) -> tuple:
    return (tag, *((id(s), s.data_ptr(), s.dtype, s.device, _version(s)) for s in sources))


def forget(module: nn.Module, *_) -> None:
    """Drop every kept tensor of module and its children (a load_state_dict post-hook; call it
    after editing inference-tensor parameters in place)."""
    for m in module.modules():
        m.__dict__.pop(CACHE_ATTR, None)


def derived(owner: nn.Module, name: str, fn: Callable[..., torch.Tensor], *sources: torch.Tensor,
            tag: Hashable = None) -> torch.Tensor:
    """fn(*sources), reused from owner's cache while no source has changed (module docstring)."""
    if not ENABLED or torch.is_grad_enabled() or torch.compiler.is_compiling():
        return fn(*sources)
    cache = owner.__dict__.setdefault(CACHE_ATTR, {})
    key = _key(sources, tag)
    hit = cache.get(name)
    if hit is not None and hit[0] == key:
        return hit[1]
    value = fn(*sources)
    if not (value.is_cuda and torch.cuda.is_current_stream_capturing()):
        cache[name] = (key, value)
    return value


# the dtypes autocast casts for a matmul (float64 is left alone)
_AUTOCAST_ELIGIBLE = (torch.float32, torch.float16, torch.bfloat16)


def matmul_dtype(t: torch.Tensor) -> torch.dtype:
    """The dtype a matmul (F.linear) with this operand runs in: autocast's where autocast
    would cast it, else its own."""
    device = t.device.type
    if t.dtype in _AUTOCAST_ELIGIBLE and torch.is_autocast_enabled(device):
        return torch.get_autocast_dtype(device)
    return t.dtype


def linear_weight(owner: nn.Module, name: str, weight: torch.Tensor, pad_rows: int = 0) -> torch.Tensor:
    """weight with `pad_rows` zero rows appended, in the dtype the matmul runs in (autocast
    then finds nothing to cast)."""
    dtype = matmul_dtype(weight)

    def make(w: torch.Tensor) -> torch.Tensor:
        w = w.to(dtype)
        return nn.functional.pad(w, (0, 0, 0, pad_rows)) if pad_rows else w

    return derived(owner, name, make, weight, tag=(dtype, pad_rows))
