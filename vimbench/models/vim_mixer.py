"""The Vim "bimamba v2" token mixer, computed without flipping any tensor.

Official formulation (hustvl/Vim, `mamba_simple.Mamba` with bimamba_type="v2"), for
tokens h (batch, L, D):

    x, z = in_proj(h)                                    shared by both directions
    y_f  = scan_f(silu(causal_conv_f(x)), z)             forward direction
    y_b  = flip(scan_b(silu(causal_conv_b(flip(x))), flip(z)))   backward direction
    out  = out_proj((y_f + y_b) / 2)

where each scan_* has its own x_proj, dt_proj, A_log and D, and includes the D skip and
the silu(z) gate.  The flips cancel once the backward pieces are written in the original
token order:
- a causal conv over the flipped sequence is an anti-causal conv over the original one,
  with the kernel taps reversed;
- x_proj_b and dt_proj_b act on one token at a time, so token order does not matter;
- a scan over the flipped sequence, flipped back, is a scan that runs t = L-1 .. 0.
So this module runs the anti-causal conv and hands both directions, in original order, to
one `bidirectional_scan` call (`(y_f + y_b) / 2 * silu(z)`).  The paper's own flip-based
route on the official kernels is a subclass of this module in vim_official.py.

Memory (inference): dt_proj is applied inside the scan (`delta_proj_weight`: the scan gets
dt_low, R values a token, and forms dt = W @ dt_low itself), so no (batch, L, E) dt tensor
exists, and the scan writes its output into the x half of in_proj's output, which nothing
reads once the convolutions have run.

Layout: every projection is computed on (batch, L, channels) tensors, the natural output
of a Linear layer; the scan receives (batch, channels, L) *views* of them (strided, no
transpose copies).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .inference_weights import derived, forget, linear_weight
from .vim_fused_ops import check_fusable, load_bidirectional_conv1d
from .vim_scan_backends import check_scan_backend, load_bidirectional_scan


def depthwise_conv1d_silu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                          anti_causal: bool) -> torch.Tensor:
    """silu(depthwise conv1d) along the tokens of x (batch, L, E), any strides.

    weight (E, 1, K) as stored by nn.Conv1d.  Causal: out[t] = sum_k w[k] x[t - K+1 + k].
    Anti-causal: the causal conv of the flipped sequence, flipped back, i.e.
    out[t] = sum_k w[k] x[t + K-1 - k].  Returns (batch, L, E), contiguous.
    """
    length, channels = x.shape[1], x.shape[2]
    k = weight.shape[-1]
    x_cl = x.transpose(1, 2)  # (batch, E, L) view
    if anti_causal:
        y = F.conv1d(x_cl, weight.flip(-1), bias, padding=k - 1, groups=channels)[..., k - 1:]
    else:
        y = F.conv1d(x_cl, weight, bias, padding=k - 1, groups=channels)[..., :length]
    # Back to (batch, L, E): x_proj reads it token-major, and the scan reads it as a view.
    return F.silu(y.transpose(1, 2).contiguous(), inplace=True)


def init_dt_proj(dt_proj: nn.Linear, dt_min: float = 1e-3, dt_max: float = 0.1,
                 dt_init_floor: float = 1e-4) -> None:
    """Mamba's dt initialisation: weight ~ U(-R^-0.5, R^-0.5); bias = softplus^-1(dt) with
    dt log-uniform in [dt_min, dt_max], so that softplus(bias) starts in that range."""
    rank = dt_proj.in_features
    with torch.no_grad():
        nn.init.uniform_(dt_proj.weight, -rank**-0.5, rank**-0.5)
        dt = torch.exp(torch.rand_like(dt_proj.bias, dtype=torch.float32)
                       * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=dt_init_floor)
        dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # inverse softplus


def s4d_real_a_log(d_inner: int, d_state: int) -> torch.Tensor:
    """S4D-real init: A[d, n] = -(n + 1), stored as A_log = log(1..N) for every channel."""
    return torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1)


def at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    """fp32 for 16- and 32-bit tensors (A, D, dt bias, the residual stream, as in the
    official code); float64 stays float64, for reference runs."""
    return t if t.dtype in (torch.float64, torch.float32) else t.float()  # no dispatch for a no-op


class BiMambaV2Mixer(nn.Module):
    """Bidirectional Mamba mixer; parameter names follow the official checkpoints.

    in_proj (2E, D), conv1d/conv1d_b (E, 1, K) + bias, x_proj/x_proj_b (R + 2N, E),
    dt_proj/dt_proj_b (E, R) + bias, A_log/A_b_log (E, N), D/D_b (E,), out_proj (D, E).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | None = None, scan_backend: str = "torch", fused: bool = False):
        super().__init__()
        self.d_model = d_model
        self.d_state = d_state
        self.d_inner = expand * d_model
        self.dt_rank = dt_rank or math.ceil(d_model / 16)
        e, n, r = self.d_inner, d_state, self.dt_rank

        self.in_proj = nn.Linear(d_model, 2 * e, bias=False)
        # padding is never used by our forward (see depthwise_conv1d_silu); it is set as in
        # the official module so that `self.conv1d(x)` alone would behave the same.
        self.conv1d = nn.Conv1d(e, e, d_conv, groups=e, padding=d_conv - 1, bias=True)
        self.conv1d_b = nn.Conv1d(e, e, d_conv, groups=e, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(e, r + 2 * n, bias=False)
        self.x_proj_b = nn.Linear(e, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, e, bias=True)
        self.dt_proj_b = nn.Linear(r, e, bias=True)
        self.A_log = nn.Parameter(s4d_real_a_log(e, n))
        self.A_b_log = nn.Parameter(s4d_real_a_log(e, n))
        self.D = nn.Parameter(torch.ones(e))
        self.D_b = nn.Parameter(torch.ones(e))
        self.out_proj = nn.Linear(e, d_model, bias=False)
        # The official code gives dt_proj_b PyTorch's default init and then zeroes its bias
        # (softplus(0) = 0.69); we give both directions Mamba's dt init. Speed is unaffected.
        init_dt_proj(self.dt_proj)
        init_dt_proj(self.dt_proj_b)

        # x_proj's output rows padded to a multiple of 8 (zero weight rows after C): 44
        # outputs (Vim-Ti) make 88-byte rows and cuBLAS picks a 2-element-aligned kernel;
        # 48 ran in 0.815x the time (H100, benchmarks/xproj_width.py).  Vim-S/B: 0.
        self.x_proj_pad = -(r + 2 * n) % 8
        self.scan_backend = check_scan_backend(scan_backend)
        self._load_scan_backend()
        self.register_load_state_dict_post_hook(forget)  # new weights: derive afresh
        # fused=True: both conv directions in one Triton kernel (vim_fused_ops.py)
        self.fused = fused
        if fused:
            check_fusable(scan_backend)
            self._bidirectional_conv1d = load_bidirectional_conv1d()

    def _load_scan_backend(self) -> None:
        """Resolve the scan now, so a missing backend fails before any timing (subclasses
        that run other kernels override this)."""
        self._bidirectional_scan = load_bidirectional_scan(self.scan_backend)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_inner={self.d_inner}, d_state={self.d_state}, "
                f"dt_rank={self.dt_rank}, scan_backend={self.scan_backend!r}, fused={self.fused}")

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        """hidden (batch, L, D) -> (batch, L, D)."""
        # the weights through inference_weights: their autocast copies are made once, not every call
        xz = F.linear(hidden, linear_weight(self, "in_proj", self.in_proj.weight))  # (batch, L, 2E)
        x, z = xz.split(self.d_inner, dim=-1)  # views
        return F.linear(self._mixed_flip_free(x, z), linear_weight(self, "out_proj", self.out_proj.weight))

    def _ssm_inputs(self, u: torch.Tensor, x_proj: str):
        """u (batch, L, E) -> dt_low (batch, L, R) and B, C (batch, L, N), views of x_proj(u)
        (x_proj: the attribute name, "x_proj" or "x_proj_b").

        dt = dt_proj(dt_low) is left to the caller: the flip-free scans form it inside
        (delta_proj_weight), and the scan adds the dt_proj bias as delta_bias (in fp32)."""
        weight = linear_weight(self, x_proj, getattr(self, x_proj).weight, self.x_proj_pad)
        x_dbl = F.linear(u, weight)  # (batch, L, R + 2N + pad)
        dt_low, b, c, _ = x_dbl.split([self.dt_rank, self.d_state, self.d_state, self.x_proj_pad], dim=-1)
        return dt_low, b, c

    def _A(self, name: str, A_log: torch.Tensor) -> torch.Tensor:
        return derived(self, name, lambda a: -torch.exp(at_least_fp32(a)), A_log)

    def _mixed_flip_free(self, x: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """(y_f + y_b) / 2 * silu(z) as (batch, L, E), both directions in original order."""
        if self.fused:
            u_f, u_b = self._bidirectional_conv1d(x, self.conv1d.weight, self.conv1d.bias,
                                                  self.conv1d_b.weight, self.conv1d_b.bias)
        else:
            u_f = depthwise_conv1d_silu(x, self.conv1d.weight, self.conv1d.bias, anti_causal=False)
            u_b = depthwise_conv1d_silu(x, self.conv1d_b.weight, self.conv1d_b.bias, anti_causal=True)
        dtl_f, b_f, c_f = self._ssm_inputs(u_f, "x_proj")
        dtl_b, b_b, c_b = self._ssm_inputs(u_b, "x_proj_b")

        def cl(t):  # (batch, L, C) -> (batch, C, L) view, as the scan interface wants
            return t.transpose(1, 2)

        y = self._bidirectional_scan(
            cl(u_f), cl(dtl_f), self._A("A", self.A_log), cl(b_f), cl(c_f),
            at_least_fp32(self.D), at_least_fp32(self.dt_proj.bias),
            cl(u_b), cl(dtl_b), self._A("A_b", self.A_b_log), cl(b_b), cl(c_b),
            at_least_fp32(self.D_b), at_least_fp32(self.dt_proj_b.bias),
            cl(z), delta_softplus=True,
            delta_proj_weight=self.dt_proj.weight, delta_proj_weight_b=self.dt_proj_b.weight,
            # x is spent once the convolutions have read it: without autograd (which would
            # keep x for the conv's backward) its memory takes y
            out=None if torch.is_grad_enabled() else cl(x),
        )  # (batch, E, L)
        return cl(y)
