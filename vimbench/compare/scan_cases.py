"""The scan benchmark cases, and their inputs laid out exactly as the Vim mixer passes them.

Shared by the GPU benchmarks (tests/benchmarks), the A/B worker and the static check's
kernel configurations, so all three look at the same shapes.  Imports only torch: the
A/B worker loads this file by path next to another revision's kernels.

Layout (vimbench/models/vim_mixer.py): every (batch, C, L) argument is a transposed view
of a (batch, L, C) Linear/conv output - u and delta contiguous (stride 1 over channels),
z the second half of in_proj's output, B and C slices of x_proj's output, whose rows the
mixer pads to a multiple of 8 (Vim-Ti: dt_low 12, B 16, C 16, 4 zero columns, so B starts
12 elements in, not 16-byte aligned, and steps 48 elements per token).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

VIM_TI = {"dim": 384, "N": 16, "dt_rank": 12}  # E = 2 * 192, d_state 16, R = ceil(192 / 16)
TOKENS = {224: 197, 1248: 6085}  # patches + cls token


@dataclass(frozen=True)
class ScanCase:
    # "fwd" (selective_scan_fn, one direction) | "bidir" (bidirectional_scan_fn) | "bidirdt"
    # (bidirectional_scan_fn with delta as dt_low + delta_proj_weight: the Vim mixer's call)
    direction: str
    resolution: int
    batch: int
    dtype: str = "bfloat16"
    dim: int = VIM_TI["dim"]
    N: int = VIM_TI["N"]
    dt_rank: int = VIM_TI["dt_rank"]

    @property
    def L(self) -> int:
        return TOKENS[self.resolution]

    @property
    def name(self) -> str:
        # the naming of vimbench/kernels/bench.py (the kernel engineer's benchmark shapes)
        return f"vim_tiny-{self.resolution}-b{self.batch}-{_SHORT_DTYPE[self.dtype]}-{self.direction}"

    @property
    def min_bytes(self) -> int:
        """Bytes a perfect kernel moves: read u, delta (each direction), z; write y; read B, C."""
        size = torch.empty((), dtype=getattr(torch, self.dtype)).element_size()
        per_channel_elems = self.batch * self.dim * self.L
        per_state_elems = self.batch * self.N * self.L
        if self.direction == "fwd":
            return size * (4 * per_channel_elems + 2 * per_state_elems)
        if self.direction == "bidirdt":  # dt_low (R per token) instead of delta (E per token)
            return size * (4 * per_channel_elems + 4 * per_state_elems + 2 * self.batch * self.dt_rank * self.L)
        return size * (6 * per_channel_elems + 4 * per_state_elems)


_SHORT_DTYPE = {"bfloat16": "bf16", "float16": "fp16", "float32": "fp32"}

SCAN_CASES = tuple(
    ScanCase(direction, resolution, batch)
    for direction in ("fwd", "bidir")
    for resolution in (224, 1248)
    for batch in (1, 128)
) + (ScanCase("bidirdt", 1248, 128), ScanCase("bidirdt", 1248, 1))


def case_by_name(name: str) -> ScanCase:
    for case in SCAN_CASES:
        if case.name == name:
            return case
    raise KeyError(f"unknown scan case {name!r}; known: {', '.join(c.name for c in SCAN_CASES)}")


def x_proj_layout(rank: int, state: int) -> tuple[int, int]:
    """(row width, column of B) of the mixer's x_proj output: dt_low, B, C, then zero
    padding up to a multiple of 8 columns (vim_mixer.BiMambaV2Mixer.x_proj_pad)."""
    pad = -(rank + 2 * state) % 8
    return rank + 2 * state + pad, rank


def _direction(case: ScanCase, device, dtype, generator, low_rank_dt=False):
    b, L, E, N, R = case.batch, case.L, case.dim, case.N, case.dt_rank
    kw = dict(device=device, dtype=dtype)
    u = torch.randn(b, L, E, generator=generator, **kw).mul_(0.5)  # conv + SiLU output
    width, b0 = x_proj_layout(R, N)
    x_dbl = torch.randn(b, L, width, generator=generator, **kw)  # x_proj output
    delta = torch.randn(b, L, E, generator=generator, **kw).mul_(0.1)  # dt_proj(dt_low), bias apart
    dt = torch.exp(
        torch.rand(E, generator=generator, device=device) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)
    )
    delta_bias = dt + torch.log(-torch.expm1(-dt))  # inverse softplus of dt
    A = -torch.arange(1, N + 1, device=device, dtype=torch.float32).repeat(E, 1)  # S4D-real init
    D = torch.ones(E, device=device)
    B, C = x_dbl[..., b0 : b0 + N], x_dbl[..., b0 + N : b0 + 2 * N]
    cl = lambda t: t.transpose(1, 2)  # noqa: E731  (batch, L, C) -> (batch, C, L) view
    if low_rank_dt:  # dt_low: the first R columns of x_proj's output; dt_proj's weight, its init scale
        W = (torch.rand(E, R, generator=generator, device=device) * 2 - 1) * R**-0.5
        return (cl(u), cl(x_dbl[..., :R]), A, cl(B), cl(C), D, delta_bias), W
    return cl(u), cl(delta), A, cl(B), cl(C), D, delta_bias


def make_inputs(case: ScanCase, device="cuda", seed: int | None = None) -> tuple[tuple, dict]:
    """(args, kwargs) for selective_scan_fn / bidirectional_scan_fn at this case."""
    dtype = getattr(torch, case.dtype)
    generator = None
    if seed is not None and torch.device(device).type != "meta":
        generator = torch.Generator(device=device).manual_seed(seed)
    xz = torch.randn(case.batch, case.L, 2 * case.dim, device=device, dtype=dtype, generator=generator)
    z = xz[..., case.dim :].transpose(1, 2)
    if case.direction == "bidirdt":
        forward, W = _direction(case, device, dtype, generator, low_rank_dt=True)
        backward, W_b = _direction(case, device, dtype, generator, low_rank_dt=True)
        return (*forward, *backward, z), dict(delta_softplus=True, delta_proj_weight=W, delta_proj_weight_b=W_b)
    u, delta, A, B, C, D, bias = _direction(case, device, dtype, generator)
    if case.direction == "fwd":
        return (u, delta, A, B, C), dict(D=D, z=z, delta_bias=bias, delta_softplus=True)
    backward = _direction(case, device, dtype, generator)
    return (u, delta, A, B, C, D, bias, *backward, z), dict(delta_softplus=True)


def scan_function(direction: str):
    """The public kernel function of `direction`, from whatever vimbench is on sys.path."""
    import vimbench.kernels.selective_scan as package

    names = {"fwd": "selective_scan_fn", "bidir": "bidirectional_scan_fn", "bidirdt": "bidirectional_scan_fn"}
    if direction not in names:
        raise ValueError(f"direction must be one of {', '.join(map(repr, names))}, got {direction!r}")
    if not hasattr(package, names[direction]):
        raise ImportError(f"{package.__file__} does not export {names[direction]}")
    return getattr(package, names[direction])


# what `vimbench compare --ab` times by default: the cases every revision's kernels support
# (delta_proj_weight, hence "bidirdt", arrived later)
AB_CASES = tuple(case.name for case in SCAN_CASES if case.direction != "bidirdt")


def ab_callable(name: str, device: str = "cuda"):
    """A zero-argument call of the case's kernel on fresh inputs (the A/B worker's target)."""
    case = case_by_name(name)
    fn = scan_function(case.direction)
    args, kwargs = make_inputs(case, device=device, seed=0)
    return lambda: fn(*args, **kwargs)
