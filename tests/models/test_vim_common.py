"""Helpers shared by the Vim tests (this module holds no tests): small configs, a closeness
check, and a literal re-implementation of the official flip-based model written from the paper/official code,
independent of vimbench.models.vim_mixer."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from mamba_triton import selective_scan_ref

from vimbench.models.vim import VisionMamba
from vimbench.testing import assert_close, rel_err  # noqa: F401  (re-exported to the Vim tests)

# Small enough for the CPU (and the Triton interpreter), big enough that every dimension
# differs: D 32, E 64, R 2, N 16, depth 2.
TINY = dict(embed_dim=32, depth=2)


def tiny_vim(img_size=32, scan_backend="torch", **overrides) -> VisionMamba:
    return VisionMamba(img_size=img_size, scan_backend=scan_backend, **{**TINY, **overrides}).eval()


@torch.no_grad()
def randomize_(module: torch.nn.Module, scale: float = 0.3) -> None:
    """Perturb every parameter (A_log and D included), so no test leans on the init's symmetry."""
    for p in module.parameters():
        p.add_(torch.randn_like(p) * scale * (p.abs().mean() + 0.1))


def flip_based_mixer(m, h: torch.Tensor) -> torch.Tensor:
    """The official bimamba v2 forward: channels-first, backward branch on flipped x and z,
    each branch a *causal* Conv1d (the module itself, padding K-1, first L outputs) and a
    forward-running scan; outputs added, halved, out-projected."""
    n, r = m.d_state, m.dt_rank
    xz = (h @ m.in_proj.weight.T).transpose(1, 2)  # (batch, 2E, L)
    x, z = xz.chunk(2, dim=1)
    length = x.shape[-1]

    def branch(x, z, conv, x_proj, dt_proj, a_log, d):
        u = F.silu(conv(x)[..., :length])
        x_dbl = u.transpose(1, 2) @ x_proj.weight.T
        dt_low, b, c = torch.split(x_dbl, [r, n, n], dim=-1)
        dt = (dt_low @ dt_proj.weight.T).transpose(1, 2)
        return selective_scan_ref(u, dt, -torch.exp(a_log), b.transpose(1, 2), c.transpose(1, 2), d,
                                  z=z, delta_bias=dt_proj.bias, delta_softplus=True)

    y_f = branch(x, z, m.conv1d, m.x_proj, m.dt_proj, m.A_log, m.D)
    y_b = branch(x.flip(-1), z.flip(-1), m.conv1d_b, m.x_proj_b, m.dt_proj_b, m.A_b_log, m.D_b).flip(-1)
    return ((y_f + y_b) / 2).transpose(1, 2) @ m.out_proj.weight.T


def flip_based_vim_tokens(model, images: torch.Tensor) -> torch.Tensor:
    """The official VisionMamba.forward_features (middle cls token, abs pos embed, fused
    add+RMSNorm with fp32 residual, norm_f), returning the whole normed token map."""

    def rms(x, w, eps=1e-5):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w

    t = F.conv2d(images, model.patch_embed.proj.weight, model.patch_embed.proj.bias, stride=16)
    t = t.flatten(2).transpose(1, 2)
    mid = t.shape[1] // 2
    t = torch.cat([t[:, :mid], model.cls_token.expand(t.shape[0], -1, -1), t[:, mid:]], dim=1) + model.pos_embed
    hidden, residual = t, None
    for layer in model.layers:
        residual = hidden if residual is None else residual + hidden
        hidden = flip_based_mixer(layer.mixer, rms(residual, layer.norm.weight))
    return rms(residual + hidden, model.norm_f.weight)
