"""The scan benchmark cases, and their inputs laid out exactly as the Vim mixer passes them.

The one definition of the scan benchmark shapes: `python -m mamba_triton.bench`, its
pytest benchmarks, a harness's A/B gate and static check all take their shapes and inputs
from here.  Imports only torch: an A/B worker loads this file by path next to another
revision's kernels.

Layout (the Vim mixer, bidirectional Mamba v2): every (batch, C, L) argument is a
transposed view of a (batch, L, C) Linear/conv output - u and delta contiguous (stride 1
over channels), z the second half of in_proj's output, B and C slices of x_proj's output,
whose rows the mixer pads to a multiple of 8 (Vim-Ti: dt_low 12, B 16, C 16, 4 zero
columns, so B starts 12 elements in, not 16-byte aligned, and steps 48 elements per token).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# the mixer's inner dim E = 2 * D and dt rank R = ceil(D / 16) per model; N = 16 for all
MODELS = {"vim_tiny": (384, 12), "vim_small": (768, 24), "vim_base": (1536, 48)}
TOKENS = {224: 197, 1248: 6085}  # patches + cls token
D_STATE = 16
DTYPES = {"bf16": "bfloat16", "fp16": "float16", "fp32": "float32"}
# "fwd" (selective_scan_fn, one direction) | "bidir" (bidirectional_scan_fn) | "bidirdt"
# (bidirectional_scan_fn with delta as dt_low + delta_proj_weight: the Vim mixer's call)
DIRECTIONS = ("fwd", "bidir", "bidirdt")


@dataclass(frozen=True)
class ScanCase:
    """One scan benchmark shape, named MODEL-RES-bBATCH-DTYPE-DIR (e.g.
    vim_tiny-1248-b128-bf16-bidirdt) by the benchmark, the A/B gate and the static check."""

    model: str
    resolution: int
    batch: int
    dtype: str  # "bf16" | "fp16" | "fp32"
    direction: str

    @property
    def dim(self) -> int:
        return MODELS[self.model][0]

    @property
    def dt_rank(self) -> int:
        return MODELS[self.model][1]

    @property
    def N(self) -> int:
        return D_STATE

    @property
    def L(self) -> int:
        return TOKENS[self.resolution]

    @property
    def torch_dtype(self) -> torch.dtype:
        return getattr(torch, DTYPES[self.dtype])

    @property
    def name(self) -> str:
        return f"{self.model}-{self.resolution}-b{self.batch}-{self.dtype}-{self.direction}"

    def min_bytes(self) -> int:
        """Bytes a perfect kernel moves: read u, delta (each direction), z; write y; read B, C
        (DESIGN.md section 4); bidirdt reads dt_low (R per token) instead of delta."""
        size = torch.empty((), dtype=self.torch_dtype).element_size()
        per_token = {"fwd": 4 * self.dim + 2 * self.N, "bidir": 6 * self.dim + 4 * self.N,
                     "bidirdt": 4 * self.dim + 4 * self.N + 2 * self.dt_rank}[self.direction]
        return size * self.batch * self.L * per_token

    def exponentials(self) -> int:
        return self.batch * self.L * self.dim * self.N * (1 if self.direction == "fwd" else 2)


def parse_case(name: str) -> ScanCase:
    """Inverse of ScanCase.name; a ValueError names what is wrong and what is allowed."""
    try:
        model, res, b, dtype, direction = name.split("-")
        case = ScanCase(model, int(res), int(b.lstrip("b")), dtype, direction)
        case.dim, case.L  # noqa: B018  (validates model and resolution)
    except (ValueError, KeyError) as err:
        raise ValueError(f"bad shape name {name!r}: expected MODEL-RES-bBATCH-DTYPE-DIR with MODEL in "
                         f"{list(MODELS)}, RES in {list(TOKENS)}, DIR {'|'.join(DIRECTIONS)}") from err
    if dtype not in DTYPES or direction not in DIRECTIONS or case.batch < 1:
        raise ValueError(f"bad shape name {name!r}: dtype {'|'.join(DTYPES)}, direction "
                         f"{'|'.join(DIRECTIONS)}, batch >= 1")
    return case


SCAN_CASES = tuple(
    ScanCase("vim_tiny", resolution, batch, "bf16", direction)
    for direction in ("fwd", "bidir")
    for resolution in (224, 1248)
    for batch in (1, 128)
) + (ScanCase("vim_tiny", 1248, 128, "bf16", "bidirdt"), ScanCase("vim_tiny", 1248, 1, "bf16", "bidirdt"))


def case_by_name(name: str) -> ScanCase:
    for case in SCAN_CASES:
        if case.name == name:
            return case
    raise KeyError(f"unknown scan case {name!r}; known: {', '.join(c.name for c in SCAN_CASES)}")


def x_proj_layout(rank: int, state: int) -> tuple[int, int]:
    """(row width, column of B) of the mixer's x_proj output: dt_low, B, C, then zero
    padding up to a multiple of 8 columns (the Vim mixer's x_proj_pad)."""
    pad = -(rank + 2 * state) % 8
    return rank + 2 * state + pad, rank


def _direction(case: ScanCase, device, dtype, generator, low_rank_dt=False):
    b, L, E, N, R = case.batch, case.L, case.dim, case.N, case.dt_rank
    kw = dict(device=device, dtype=dtype)
    u = torch.randn(b, L, E, generator=generator, **kw).mul_(0.5)  # conv + SiLU output
    width, b0 = x_proj_layout(R, N)
    x_dbl = torch.randn(b, L, width, generator=generator, **kw)  # x_proj output
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
    delta = torch.randn(b, L, E, generator=generator, **kw).mul_(0.1)  # dt_proj(dt_low), bias apart
    return cl(u), cl(delta), A, cl(B), cl(C), D, delta_bias


def make_inputs(case: ScanCase, device="cuda", seed: int | None = None) -> tuple[tuple, dict]:
    """(args, kwargs) for selective_scan_fn / bidirectional_scan_fn at this case."""
    dtype = case.torch_dtype
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
    """The public kernel function of `direction`, from whatever mamba_triton is on sys.path."""
    import mamba_triton.selective_scan as package

    names = {"fwd": "selective_scan_fn", "bidir": "bidirectional_scan_fn", "bidirdt": "bidirectional_scan_fn"}
    if direction not in names:
        raise ValueError(f"direction must be one of {', '.join(map(repr, names))}, got {direction!r}")
    if not hasattr(package, names[direction]):
        raise ImportError(f"{package.__file__} does not export {names[direction]}")
    return getattr(package, names[direction])


# what an A/B gate times by default: the cases every revision's kernels support
# (delta_proj_weight, hence "bidirdt", arrived later)
AB_CASES = tuple(case.name for case in SCAN_CASES if case.direction != "bidirdt")


def ab_callable(name: str, device: str = "cuda"):
    """A zero-argument call of the case's kernel on fresh inputs (the A/B worker's target)."""
    case = case_by_name(name)
    fn = scan_function(case.direction)
    args, kwargs = make_inputs(case, device=device, seed=0)
    return lambda: fn(*args, **kwargs)
