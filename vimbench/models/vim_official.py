"""The paper's Vim forward, step for step, on the official compiled kernels.

This is what the Vim authors' code runs (hustvl/Vim: `vim/models_mamba.py` and its
`mamba-1p1p1` fork of mamba_ssm, `Mamba.forward` with bimamba_type="v2", fused_add_norm,
rms_norm, residual_in_fp32, if_devide_out) written as our own code on the compiled ops of
mamba_ssm and causal_conv1d (vimbench.official).  Its speed is the paper's code's speed;
its parameters are VisionMamba's (official checkpoint names), so the same state dict loads.

    forward_features(images):
        tokens = Conv2d patch embed (cuDNN), flattened            (B, M, D)
        hidden = cat(tokens[:, :M/2], cls, tokens[:, M/2:]) + pos_embed   (out of place)
        per block:  hidden, residual = rms_norm_fn(hidden, residual, prenorm, residual_in_fp32)
                    hidden = mixer(hidden)
        hidden = rms_norm_fn(hidden, residual) over every token; return hidden[:, M/2]

    mixer(h):                                              (B, L, D) -> (B, L, D)
        xz    = in_proj.weight @ h^T, viewed (B, 2E, L)         one GEMM, channels first
        y_f   = inner(xz, forward parameters)
        y_b   = inner(xz.flip(-1), backward parameters)         a full copy of xz
        out   = out_proj((y_f + y_b.flip(-1)).transpose(1, 2) / 2)

    inner(xz) (the official `mamba_inner_fn_no_out_proj` forward), x, z = xz.chunk(2):
        u     = causal_conv1d_fwd(x, conv weight, conv bias, silu)    (B, E, L)
        x_dbl = F.linear(u as (B*L, E), x_proj.weight)                 (B*L, R + 2N)
        delta = dt_proj.weight @ x_dbl[:, :R]^T, viewed (B, E, L)
        B, C  = x_dbl's columns as contiguous (B, 1, N, L) copies
        out, chunk_states, out_z = selective_scan_cuda.fwd(u, delta, A, B, C, D, z, dt bias, softplus)
        return out_z                                          (the gated output)

Every view and copy above is the official one (the reshapes are the einops rearranges of
the original), so the memory the official code holds is held here too: the flipped xz,
both pre-gate outputs, the flipped y_b.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from vimbench.official import OfficialOps, load_official_ops

from .vim import VimBlock, VisionMamba
from .vim_mixer import BiMambaV2Mixer, at_least_fp32
from .vim_scan_backends import OFFICIAL


def _autocast_dtype(device_type: str) -> torch.dtype | None:
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else None


def official_inner(ops: OfficialOps, xz: torch.Tensor, conv: nn.Conv1d, x_proj: nn.Linear, dt_proj: nn.Linear,
                   a_log: torch.Tensor, d: torch.Tensor, d_state: int) -> torch.Tensor:
    """One direction of the official mixer on xz (B, 2E, L) -> gated scan output (B, E, L)."""
    batch, length = xz.shape[0], xz.shape[-1]
    rank = dt_proj.weight.shape[1]
    x_proj_weight, dt_proj_weight = x_proj.weight, dt_proj.weight
    cast = _autocast_dtype(xz.device.type)
    if cast is not None:  # as the official forward does under autocast
        x_proj_weight, dt_proj_weight = x_proj_weight.to(cast), dt_proj_weight.to(cast)
    if xz.stride(-1) != 1:
        xz = xz.contiguous()
    x, z = xz.chunk(2, dim=1)
    conv_bias = conv.bias.contiguous() if conv.bias is not None else None
    u = ops.causal_conv1d_fwd(x, conv.weight.squeeze(1), conv_bias, None, None, None, True)
    x_dbl = F.linear(u.permute(0, 2, 1).reshape(batch * length, -1), x_proj_weight)  # 'b d l -> (b l) d'
    delta = (dt_proj_weight @ x_dbl[:, :rank].t()).reshape(-1, batch, length).permute(1, 0, 2)  # 'd (b l) -> b d l'

    def per_token(cols: torch.Tensor) -> torch.Tensor:  # '(b l) n -> b 1 n l', then .contiguous()
        return cols.reshape(batch, length, d_state).permute(0, 2, 1).unsqueeze(1).contiguous()

    b = per_token(x_dbl[:, rank:rank + d_state])
    c = per_token(x_dbl[:, -d_state:])
    # .float() in the official code; at_least_fp32 is the same there and keeps float64 checks exact
    a = -torch.exp(at_least_fp32(a_log))
    _, _, out_z = ops.selective_scan_fwd(u, delta, a, b, c, at_least_fp32(d).contiguous(), z,
                                         at_least_fp32(dt_proj.bias), True)
    return out_z


class OfficialMixer(BiMambaV2Mixer):
    """BiMambaV2Mixer's parameters, the official forward (module docstring)."""

    def __init__(self, d_model: int, **kwargs):
        super().__init__(d_model, scan_backend=OFFICIAL, **kwargs)

    def _load_scan_backend(self) -> None:
        self._ops = load_official_ops()

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, length, _ = hidden.shape
        # 'b l d -> d (b l)', one GEMM, 'd (b l) -> b d l': channels first without a copy
        xz = self.in_proj.weight @ hidden.permute(2, 0, 1).reshape(hidden.shape[-1], batch * length)
        xz = xz.reshape(-1, batch, length).permute(1, 0, 2)
        n = self.d_state
        y_f = official_inner(self._ops, xz, self.conv1d, self.x_proj, self.dt_proj, self.A_log, self.D, n)
        y_b = official_inner(self._ops, xz.flip([-1]), self.conv1d_b, self.x_proj_b, self.dt_proj_b,
                             self.A_b_log, self.D_b, n)
        return F.linear((y_f + y_b.flip([-1])).transpose(1, 2) / 2, self.out_proj.weight, self.out_proj.bias)


class OfficialBlock(VimBlock):
    """The official Block with fused_add_norm: mamba_ssm's Triton add + RMSNorm, fp32 residual."""

    def __init__(self, dim: int, mixer: OfficialMixer, norm_eps: float):
        super().__init__(dim, mixer, norm_eps, fused=False)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor | None):
        hidden, residual = self.mixer._ops.rms_norm_fn(hidden, self.norm.weight, None, residual=residual,
                                                       prenorm=True, residual_in_fp32=True, eps=self.norm.eps)
        return self.mixer(hidden), residual


class OfficialVisionMamba(VisionMamba):
    """Vim on the paper's code path (scan_backend "official"): the same parameters as
    VisionMamba, a Conv2d patch embedding, the official blocks and final norm."""

    def __init__(self, fused: bool = False, **kwargs):
        chosen = {"fused": fused} if fused else {}
        chosen.update({k: kwargs[k] for k in ("scan_backend", "patch_embed_impl") if k in kwargs})
        if chosen:
            raise ValueError(f"OfficialVisionMamba runs the official code path as it is; {chosen} does not apply "
                             "(use VisionMamba for vimbench's own kernels)")
        super().__init__(scan_backend=OFFICIAL, fused=False, patch_embed_impl="conv", **kwargs)

    def _make_block(self, dim: int, mixer_kwargs: dict, norm_eps: float) -> nn.Module:
        return OfficialBlock(dim, OfficialMixer(dim, **mixer_kwargs), norm_eps)

    def forward_features(self, x: torch.Tensor, return_tokens: bool = False) -> torch.Tensor:
        tokens = self.patch_embed(x)
        c = self.cls_index
        hidden = torch.cat([tokens[:, :c], self.cls_token.expand(tokens.shape[0], -1, -1), tokens[:, c:]], dim=1)
        hidden = hidden + self.pos_embed
        residual = None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        rms_norm_fn = self.layers[0].mixer._ops.rms_norm_fn
        hidden = rms_norm_fn(hidden, self.norm_f.weight, None, residual=residual, prenorm=False,
                             residual_in_fp32=True, eps=self.norm_f.eps)
        return hidden if return_tokens else hidden[:, c, :]
