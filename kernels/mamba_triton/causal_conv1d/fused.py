"""Both Vim conv directions in one Triton kernel: depthwise conv1d (kernel 4) + bias +
SiLU, causal with (weight, bias) and anti-causal with (weight_b, bias_b), from one read
of x.  Minimum traffic: read x once, write two outputs (3 x batch*L*E elements).

Each program owns a [BLOCK_L tokens, BLOCK_E channels] tile and loads the 7 shifted
tiles x[t-3..t+3]; the overlapping halo comes from L1/L2, not HBM.  No flips: the
anti-causal taps simply look ahead.  Inference only: the differentiable twin is
`autograd.bidirectional_conv1d_autograd` (this forward, then `backward.py`'s kernel in its
two-direction mode).

The same kernel without its backward half (BACKWARD=False) and optionally without the
SiLU is causal_conv1d's `causal_conv1d_fn` (widths 2..4: the taps are zero-padded on the
left to 4).  The references are `reference.bidirectional_conv1d_ref` and
`reference.causal_conv1d_fn_ref`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from ..host_math import cdiv
from ..launch import launchable

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
KERNEL_WIDTH = 4


@triton.jit
def _bidir_conv1d_silu_kernel(
    p_x, p_w, p_bias, p_wb, p_bias_b, p_yf, p_yb,
    L, E,
    s_xb, s_xl, s_xe,
    s_we, s_wk, s_wbe, s_wbk,
    s_yb, s_yl, s_ye,
    HAS_BIAS: tl.constexpr,
    HAS_BIAS_B: tl.constexpr,
    BACKWARD: tl.constexpr,  # also the anti-causal output (p_wb, p_bias_b, p_yb)
    SILU: tl.constexpr,
    BLOCK_L: tl.constexpr,
    BLOCK_E: tl.constexpr,
):
    i_l = tl.program_id(0)
    i_e = tl.program_id(1)
    i_b = tl.program_id(2).to(tl.int64)
    t = i_l * BLOCK_L + tl.arange(0, BLOCK_L)  # [BL]
    e = i_e * BLOCK_E + tl.arange(0, BLOCK_E)  # [BE]
    m_e = e < E
    p_xb = p_x + i_b * s_xb

    b_acc_f = tl.zeros([BLOCK_L, BLOCK_E], dtype=tl.float32)
    b_acc_b = tl.zeros([BLOCK_L, BLOCK_E], dtype=tl.float32)
    if HAS_BIAS:
        b_acc_f += tl.load(p_bias + e, mask=m_e, other=0.0).to(tl.float32)[None, :]
    if BACKWARD and HAS_BIAS_B:
        b_acc_b += tl.load(p_bias_b + e, mask=m_e, other=0.0).to(tl.float32)[None, :]

    # shift j - 3 in -3..3: the forward taps use shifts -3..0 (tap k = shift + 3),
    # the backward taps shifts 0..3 (tap k = 3 - shift); shift 0 feeds both.
    for j in tl.static_range(4 + 3 * BACKWARD):
        tt = t + (j - 3)
        m = ((tt >= 0) & (tt < L))[:, None] & m_e[None, :]
        b_x = tl.load(p_xb + tt.to(tl.int64)[:, None] * s_xl + e[None, :] * s_xe,
                      mask=m, other=0.0).to(tl.float32)  # [BL, BE]
        if j <= 3:
            b_w = tl.load(p_w + e * s_we + j * s_wk, mask=m_e, other=0.0).to(tl.float32)
            b_acc_f += b_w[None, :] * b_x
        if BACKWARD and j >= 3:
            b_wb = tl.load(p_wb + e * s_wbe + (6 - j) * s_wbk, mask=m_e, other=0.0).to(tl.float32)
            b_acc_b += b_wb[None, :] * b_x

    m_out = (t < L)[:, None] & m_e[None, :]
    offs = i_b * s_yb + t.to(tl.int64)[:, None] * s_yl + e[None, :] * s_ye
    if SILU:
        b_acc_f = b_acc_f / (1.0 + tl.exp(-b_acc_f))
    tl.store(p_yf + offs, b_acc_f.to(p_yf.dtype.element_ty), mask=m_out)
    if BACKWARD:
        if SILU:
            b_acc_b = b_acc_b / (1.0 + tl.exp(-b_acc_b))
        tl.store(p_yb + offs, b_acc_b.to(p_yb.dtype.element_ty), mask=m_out)


def _as_taps(name: str, weight: torch.Tensor, E: int) -> torch.Tensor:
    """Accept Conv1d's (E, 1, 4) weight or an (E, 4) view; return an (E, 4) view."""
    if weight.dim() == 3 and weight.shape[1] == 1:
        weight = weight.select(1, 0)  # not weight[:, 0, :]: Python indexing parses its slices, ~3x the cost
    if tuple(weight.shape) != (E, KERNEL_WIDTH):
        raise ValueError(f"bidirectional_conv1d: {name} must be (E={E}, 1, {KERNEL_WIDTH}) or "
                         f"(E, {KERNEL_WIDTH}), got {tuple(weight.shape)}")
    return weight


def bidirectional_conv1d(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    weight_b: torch.Tensor,
    bias_b: torch.Tensor | None,
    out_dtype: torch.dtype | None = None,
    *,
    block_l: int = 16,
    block_e: int = 128,
    num_warps: int = 4,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward causal and backward anti-causal depthwise conv1d + bias + SiLU.

    x: (batch, L, E), any float dtype, any strides (e.g. `xz[..., :E]` of in_proj's
       (batch, L, 2E) output, without a copy).
    weight, weight_b: (E, 1, 4) (Conv1d layout) or (E, 4); bias, bias_b: (E,) or None.
    Returns (out_f, out_b): (batch, L, E) contiguous in `out_dtype` (default x's dtype),
    out_f[t] = silu(bias + sum_k weight[k] x[t-3+k]), out_b[t] = silu(bias_b + sum_k weight_b[k] x[t+3-k]).
    `block_l` / `block_e` / `num_warps` override the launch shape (for tuning).
    """
    if x.dim() != 3:
        raise ValueError(f"bidirectional_conv1d: x must be (batch, L, E), got shape {tuple(x.shape)}")
    batch, L, E = x.shape
    if x.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"bidirectional_conv1d: x dtype {x.dtype} not in {_FLOAT_DTYPES}")
    weight = _as_taps("weight", weight, E)
    weight_b = _as_taps("weight_b", weight_b, E)
    for name, b in (("bias", bias), ("bias_b", bias_b)):
        if b is not None and tuple(b.shape) != (E,):
            raise ValueError(f"bidirectional_conv1d: {name} must be ({E},), got {tuple(b.shape)}")
    tensors = [t for t in (x, weight, bias, weight_b, bias_b) if t is not None]
    if len({t.device for t in tensors}) != 1:
        raise ValueError(f"bidirectional_conv1d: all tensors must share a device, got {[str(t.device) for t in tensors]}")
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        raise NotImplementedError("bidirectional_conv1d (Triton) is inference-only; call it under "
                                  "torch.no_grad() or use bidirectional_conv1d_autograd for training")
    out_dtype = out_dtype or x.dtype
    if out_dtype not in _FLOAT_DTYPES:
        raise ValueError(f"bidirectional_conv1d: out_dtype {out_dtype} not in {_FLOAT_DTYPES}")
    for name, v in (("block_l", block_l), ("block_e", block_e)):
        if v < 1 or v & (v - 1):
            raise ValueError(f"bidirectional_conv1d: {name} must be a power of two, got {v}")

    y_f = torch.empty((batch, L, E), device=x.device, dtype=out_dtype)
    y_b = torch.empty_like(y_f)
    if y_f.numel() == 0:
        return y_f, y_b
    grid = (cdiv(L, block_l), cdiv(E, block_e), batch)
    launchable(_bidir_conv1d_silu_kernel, x)[grid](
        x, weight, bias if bias is not None else weight, weight_b,
        bias_b if bias_b is not None else weight_b, y_f, y_b,
        L, E,
        x.stride(0), x.stride(1), x.stride(2),
        weight.stride(0), weight.stride(1), weight_b.stride(0), weight_b.stride(1),
        y_f.stride(0), y_f.stride(1), y_f.stride(2),
        HAS_BIAS=bias is not None, HAS_BIAS_B=bias_b is not None, BACKWARD=True, SILU=True,
        BLOCK_L=block_l, BLOCK_E=block_e,
        num_warps=num_warps,
    )
    return y_f, y_b


ACTIVATIONS = (None, "silu", "swish")


def causal_conv1d_fn(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    activation: str | None = None,
) -> torch.Tensor:
    """causal_conv1d's `causal_conv1d_fn` (inference only): depthwise causal conv1d + bias,
    then SiLU if `activation` is "silu" or "swish".

    x: (batch, dim, L), any float dtype, any strides; weight: (dim, width), width 2..4;
    bias: (dim,) or None.  Returns (batch, dim, L) in x's dtype, laid out like x (a
    (batch, L, dim)-contiguous x viewed as (batch, dim, L) gives the same kind of view),
    out[t] = act(bias + sum_k weight[k] x[t - (width - 1) + k]).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"causal_conv1d_fn: activation must be one of {ACTIVATIONS}, got {activation!r}")
    if x.dim() != 3:
        raise ValueError(f"causal_conv1d_fn: x must be (batch, dim, L), got shape {tuple(x.shape)}")
    batch, dim, L = x.shape
    if x.dtype not in _FLOAT_DTYPES:
        raise ValueError(f"causal_conv1d_fn: x dtype {x.dtype} not in {_FLOAT_DTYPES}")
    if weight.dim() != 2 or weight.shape[0] != dim or not 2 <= weight.shape[1] <= KERNEL_WIDTH:
        raise ValueError(f"causal_conv1d_fn: weight must be (dim={dim}, width) with width 2..{KERNEL_WIDTH}, "
                         f"got {tuple(weight.shape)}")
    if bias is not None and tuple(bias.shape) != (dim,):
        raise ValueError(f"causal_conv1d_fn: bias must be ({dim},), got {tuple(bias.shape)}")
    tensors = [t for t in (x, weight, bias) if t is not None]
    if len({t.device for t in tensors}) != 1:
        raise ValueError(f"causal_conv1d_fn: all tensors must share a device, got {[str(t.device) for t in tensors]}")
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        raise NotImplementedError("causal_conv1d_fn (Triton) is inference-only; call it under torch.no_grad() "
                                  "or use causal_conv1d_autograd for training")
    taps = F.pad(weight, (KERNEL_WIDTH - weight.shape[1], 0))  # zero taps in front: x[t-3..] unused
    channels_last = x.stride(1) < x.stride(2)
    if channels_last:
        out = torch.empty((batch, L, dim), device=x.device, dtype=x.dtype).transpose(1, 2)
    else:
        out = torch.empty((batch, dim, L), device=x.device, dtype=x.dtype)
    if out.numel() == 0:
        return out
    x_ble, y_ble = x.transpose(1, 2), out.transpose(1, 2)  # the kernel's (batch, L, E) views
    # tiles long along the dense dimension (not tuned on a GPU yet for the channel-major case)
    block_l, block_e = (16, 128) if channels_last else (128, 16)
    grid = (cdiv(L, block_l), cdiv(dim, block_e), batch)
    launchable(_bidir_conv1d_silu_kernel, x)[grid](
        x_ble, taps, bias if bias is not None else taps, taps, taps, y_ble, y_ble,
        L, dim,
        x_ble.stride(0), x_ble.stride(1), x_ble.stride(2),
        taps.stride(0), taps.stride(1), 0, 0,
        y_ble.stride(0), y_ble.stride(1), y_ble.stride(2),
        HAS_BIAS=bias is not None, HAS_BIAS_B=False, BACKWARD=False, SILU=activation is not None,
        BLOCK_L=block_l, BLOCK_E=block_e,
        num_warps=4,
    )
    return out
