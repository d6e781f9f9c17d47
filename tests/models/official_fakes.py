"""Stand-ins for the official compiled ops (this module holds no tests): the same call
signatures and return values as selective_scan_cuda.fwd, causal_conv1d_fwd_function and
mamba_ssm's rms_norm_fn, computed by plain PyTorch (any dtype, float64 included), so the
official data flow (flips, layouts, halving, cls position, final norm) is checked on the CPU."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mamba_triton import selective_scan_ref

from vimbench.official.ops import OfficialOps


def causal_conv1d_fwd(x, weight, bias, seq_idx, initial_states, final_states_out, silu_activation):
    assert seq_idx is None and initial_states is None and final_states_out is None
    k = weight.shape[-1]
    y = F.conv1d(x, weight.unsqueeze(1), bias, padding=k - 1, groups=x.shape[1])[..., : x.shape[-1]]
    return F.silu(y) if silu_activation else y


def selective_scan_fwd(u, delta, a, b, c, d, z, delta_bias, delta_softplus):
    # the compiled kernel takes variable B/C as (batch, groups=1, N, L)
    assert b.dim() == 4 and b.shape[1] == 1 and b.is_contiguous() and c.is_contiguous()
    out = selective_scan_ref(u, delta, a, b[:, 0], c[:, 0], D=d, delta_bias=delta_bias, delta_softplus=delta_softplus)
    out_z = out * F.silu(z)
    chunk_states = torch.zeros(u.shape[0], u.shape[1], 1, 2 * a.shape[1], dtype=torch.float32)
    return [out, chunk_states, out_z]


def rms_norm_fn(x, weight, bias, residual=None, prenorm=False, residual_in_fp32=False, eps=1e-6):
    assert bias is None
    res = x if residual is None else x + residual
    if residual_in_fp32 and res.dtype != torch.float64:
        res = res.float()
    y = (res * torch.rsqrt(res.pow(2).mean(-1, keepdim=True) + eps) * weight).to(x.dtype)
    return (y, res) if prenorm else y


FAKE_OPS = OfficialOps(selective_scan_fwd, causal_conv1d_fwd, rms_norm_fn, origin="tests/models/official_fakes.py",
                       build={})
