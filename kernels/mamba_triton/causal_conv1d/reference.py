"""Depthwise causal conv1d (kernel 4) + bias + SiLU for both Vim directions: the
pure-PyTorch reference (float64-capable), written as the official model computes it.

    forward : out_f = silu(Conv1d(E, E, k=4, groups=E, padding=3)(x)[..., :L])
    backward: out_b = flip(silu(Conv1d_b(flip(x))[..., :L]))     (flip over tokens)

i.e., per channel and token t (w = conv.weight[:, 0, :], taps k = 0..3, zeros outside 0..L-1):

    out_f[t] = silu(b   + sum_k w[k]   * x[t - 3 + k])   causal
    out_b[t] = silu(b_b + sum_k w_b[k] * x[t + 3 - k])   anti-causal, original token order

x is (batch, L, E) in any strides (in Vim: the x half of in_proj's output, row stride 2E);
outputs are (batch, L, E).  The reference does a transpose, a pad, two flips and extra
passes over memory - the fused kernel reads x once and writes both outputs once.

`causal_conv1d_fn_ref` is one direction with causal_conv1d's `causal_conv1d_fn`
signature instead: x (batch, dim, L), weight (dim, width), activation None | "silu" |
"swish" (the same as "silu").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _causal_conv_silu(x_bel: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    E, L = x_bel.shape[1], x_bel.shape[2]
    k = weight.shape[-1]
    y = F.conv1d(x_bel, weight.view(E, 1, k), bias, padding=k - 1, groups=E)[..., :L]
    return F.silu(y)


def causal_conv1d_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    reverse: bool = False,
    compute_dtype: torch.dtype | None = None,
    out_dtype: torch.dtype | None = None,
) -> torch.Tensor:
    """One direction. x: (batch, L, E); weight: (E, 1, 4) or (E, 4); bias: (E,) or None.
    reverse=True gives the backward (anti-causal) direction in original token order."""
    if compute_dtype is None:
        compute_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    out_dtype = out_dtype or x.dtype
    x_bel = x.to(compute_dtype).transpose(1, 2)  # (batch, E, L)
    w = weight.to(compute_dtype)
    b = bias.to(compute_dtype) if bias is not None else None
    if reverse:
        y = _causal_conv_silu(x_bel.flip(-1), w, b).flip(-1)
    else:
        y = _causal_conv_silu(x_bel, w, b)
    return y.transpose(1, 2).to(out_dtype)


def bidirectional_conv1d_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weight_b: torch.Tensor,
    bias_b: torch.Tensor | None,
    compute_dtype: torch.dtype | None = None,
    out_dtype: torch.dtype | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Both directions: (out_f, out_b), each (batch, L, E)."""
    common = dict(compute_dtype=compute_dtype, out_dtype=out_dtype)
    return (causal_conv1d_ref(x, weight, bias, reverse=False, **common),
            causal_conv1d_ref(x, weight_b, bias_b, reverse=True, **common))


def causal_conv1d_fn_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """causal_conv1d's `causal_conv1d_fn` semantics: x (batch, dim, L); weight (dim, width);
    bias (dim,) or None; out[t] = act(bias + sum_k weight[k] x[t - (width - 1) + k]), in x's
    dtype, computed in float64 for float64 inputs and float32 otherwise."""
    if activation not in (None, "silu", "swish"):
        raise ValueError(f"activation must be None, 'silu' or 'swish', got {activation!r}")
    compute = torch.float64 if x.dtype == torch.float64 else torch.float32
    dim, width = weight.shape
    y = F.conv1d(x.to(compute), weight.to(compute).unsqueeze(1), None if bias is None else bias.to(compute),
                 padding=width - 1, groups=dim)[..., : x.shape[-1]]
    return (F.silu(y) if activation is not None else y).to(x.dtype)


def _float64_grads(fn, tensors, douts):
    """torch.autograd.grad of fn(*tensors) (a tensor or a tuple) against douts, all in
    float64; None where a tensor is None."""
    t64 = [None if t is None else t.detach().double().requires_grad_() for t in tensors]
    inputs = [t for t in t64 if t is not None]
    with torch.enable_grad():
        out = fn(*t64)
        outs = out if isinstance(out, tuple) else (out,)
        g = iter(torch.autograd.grad(outs, inputs, [d.double() for d in douts]))
    return tuple(None if t is None else next(g) for t in t64)


def causal_conv1d_fn_bwd_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    dout: torch.Tensor,
    activation: str | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Reference gradients (dx, dweight, dbias or None) of `causal_conv1d_fn_ref` given dout:
    torch.autograd through the reference, in float64 whatever the input dtypes."""
    return _float64_grads(lambda x, w, b: causal_conv1d_fn_ref(x, w, b, activation), (x, weight, bias), (dout,))


def bidirectional_conv1d_bwd_ref(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weight_b: torch.Tensor,
    bias_b: torch.Tensor | None,
    dout_f: torch.Tensor,
    dout_b: torch.Tensor,
) -> tuple[torch.Tensor, ...]:
    """Reference gradients (dx, dweight, dbias, dweight_b, dbias_b; None for a None bias) of
    `bidirectional_conv1d_ref` given both outputs' gradients: torch.autograd through the
    reference (the official flip formulation), in float64 whatever the input dtypes."""
    return _float64_grads(bidirectional_conv1d_ref, (x, weight, bias, weight_b, bias_b), (dout_f, dout_b))
