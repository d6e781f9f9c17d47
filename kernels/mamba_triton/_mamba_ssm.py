"""mamba_ssm's compiled CUDA scan (`selective_scan_cuda`), found and called on the
benchmark's inputs, for `python -m mamba_triton.bench --against-mamba-ssm`.

The module is imported as installed (`pip install mamba-ssm`, needs nvcc), or else from a
directory put on sys.path: `--mamba-ssm-path`, by default where the vimbench harness of this
repository builds mamba_ssm's forward kernels (`python -m vimbench.official.build`).

What is timed is mamba_ssm's own kernel in its own layout: `fwd(u, delta, A, B, C, D, z,
delta_bias, delta_softplus)` with every (batch, C, L) tensor contiguous and B, C as
(batch, 1, N, L) - the copies are made before timing.  The bidirectional cases are two
such calls, the backward direction's inputs flipped over L beforehand (as the official
Vim does it); for "bidirdt" its delta = W @ dt_low is formed beforehand too.  The
combination (y_f + flip(y_b)) / 2 is applied only for the float64 check.  So the
mamba_ssm time counts its scan kernels only, none of the copies, flips or GEMMs its
caller needs: a lower bound for what it costs in the model.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import torch

BUILD_COMMAND = "python -m vimbench.official.build"
BUILD_DIR_ENV = "VIMBENCH_OFFICIAL_KERNELS"


def default_path() -> Path:
    """$VIMBENCH_OFFICIAL_KERNELS, else ~/.cache/vimbench/official-kernels/torch-<torch version>
    (where the harness's build writes for the running torch)."""
    if os.environ.get(BUILD_DIR_ENV):
        return Path(os.environ[BUILD_DIR_ENV]).expanduser()
    return Path.home() / ".cache" / "vimbench" / "official-kernels" / f"torch-{torch.__version__}"


def load(path: Path | None = None):
    """The `selective_scan_cuda` module; `path` (default `default_path()`) is put first on
    sys.path if it is not importable as installed.  ImportError naming the fix otherwise."""
    try:
        import selective_scan_cuda
    except ImportError as first:
        path = Path(path) if path is not None else default_path()
        if not path.is_dir():
            raise ImportError(_missing(f"{first}; {path} does not exist")) from first
        sys.path.insert(0, str(path))
        try:
            import selective_scan_cuda
        except ImportError as err:
            raise ImportError(_missing(f"{err}; not in {path} either")) from err
    return selective_scan_cuda


def _missing(why: str) -> str:
    return (f"--against-mamba-ssm needs mamba_ssm's compiled module selective_scan_cuda ({why}). "
            f"Build its forward kernels for this GPU with `{BUILD_COMMAND}` (needs nvcc; writes "
            f"{default_path()}), or `pip install mamba-ssm`, or pass --mamba-ssm-path DIR")


def _layout(x: torch.Tensor, flip: bool) -> torch.Tensor:
    return (x.flip(-1) if flip else x).contiguous()


def _direction_args(u, delta, A, B, C, D, bias, z, flip: bool, W=None):
    """One direction's fwd arguments, in mamba_ssm's layout (made here, before timing)."""
    if W is not None:  # delta as Vim's dt_proj makes it, without its bias
        delta = torch.matmul(W.to(torch.float32), delta.to(torch.float32)).to(u.dtype)
    return (_layout(u, flip), _layout(delta, flip), A.contiguous(), _layout(B.unsqueeze(1), flip),
            _layout(C.unsqueeze(1), flip), None if D is None else D.float().contiguous(), _layout(z, flip),
            None if bias is None else bias.float().contiguous())


def mamba_ssm_calls(direction: str, inputs, module):
    """(run, combine): `run()` makes mamba_ssm's fwd call(s) on the case's inputs and returns
    their gated outputs; `combine(outputs)` turns them into the output of our function for
    the same case (batch, dim, L), for the float64 check."""
    args, kwargs = inputs
    softplus = bool(kwargs.get("delta_softplus", False))
    if direction == "fwd":
        u, delta, A, B, C = args
        calls = [_direction_args(u, delta, A, B, C, kwargs.get("D"), kwargs.get("delta_bias"), kwargs["z"], False)]
    elif direction in ("bidir", "bidirdt"):
        u, delta, A, B, C, D, bias, u_b, delta_b, A_b, B_b, C_b, D_b, bias_b, z = args
        W, W_b = kwargs.get("delta_proj_weight"), kwargs.get("delta_proj_weight_b")
        calls = [_direction_args(u, delta, A, B, C, D, bias, z, False, W),
                 _direction_args(u_b, delta_b, A_b, B_b, C_b, D_b, bias_b, z, True, W_b)]
    else:
        raise ValueError(f"unknown direction {direction!r}")

    def run():
        # fwd -> [out, chunk states, out_z] (z is given in every case): out_z = out * silu(z)
        return [module.fwd(*call, softplus)[2] for call in calls]

    def combine(outputs):
        if direction == "fwd":
            return outputs[0]
        y_f, y_b = outputs
        return (y_f.float() + y_b.flip(-1).float()).div_(2).to(y_f.dtype)

    return run, combine
