"""Where the Vim mixer's selective scan comes from: the `scan_backend` sweep dimension.

- `torch`     : `bidirectional_scan_ref` (pure PyTorch, exact, CPU-capable, slow: a Python
                loop over tokens). Always available.
- `triton`    : our kernel, `vimbench.kernels.selective_scan.bidirectional_scan_fn`
                (flip-free, both directions in one call). Same signature as the reference.
- `mamba_ssm` : the official CUDA kernels (`mamba_ssm` selective scan + `causal_conv1d`),
                run the official flip-based way, so a user can put them side by side.
                Never a dependency of vimbench: asked for and missing is an error.

A backend is resolved when the model is built, so a missing one fails before any timing
starts, and there is no silent fallback to a slower path.
"""

from __future__ import annotations

from collections.abc import Callable

SCAN_BACKENDS = ("torch", "triton", "mamba_ssm")

_MAMBA_SSM_INSTALL = (
    "pip install causal-conv1d mamba-ssm --no-build-isolation   "
    "(needs a CUDA toolkit matching your torch build; see https://github.com/state-spaces/mamba)"
)


def check_scan_backend(name: str) -> str:
    if name not in SCAN_BACKENDS:
        raise ValueError(f"unknown Vim scan_backend {name!r}; allowed: {', '.join(SCAN_BACKENDS)}")
    return name


def load_bidirectional_scan(name: str) -> Callable:
    """The flip-free scan pair for the `torch` or `triton` backend, with the signature of
    `vimbench.kernels.selective_scan.reference.bidirectional_scan_ref`."""
    check_scan_backend(name)
    if name == "torch":
        from vimbench.kernels.selective_scan.reference import bidirectional_scan_ref

        return bidirectional_scan_ref
    if name == "triton":
        try:
            from vimbench.kernels.selective_scan import bidirectional_scan_fn
        except ImportError as err:
            raise ImportError(
                "scan_backend='triton' needs vimbench.kernels.selective_scan.bidirectional_scan_fn, "
                f"which could not be imported ({err}); use scan_backend='torch' meanwhile"
            ) from err
        return bidirectional_scan_fn  # checks devices itself (CUDA, or CPU under TRITON_INTERPRET=1)
    raise ValueError(f"scan_backend {name!r} has no flip-free scan pair; use load_mamba_ssm_ops()")


def load_mamba_ssm_ops() -> tuple[Callable, Callable]:
    """(selective_scan_fn, causal_conv1d_fn) from the official packages, or a clear error."""
    try:
        from causal_conv1d import causal_conv1d_fn
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError as err:
        raise ImportError(
            f"scan_backend='mamba_ssm' needs the official mamba_ssm and causal_conv1d packages ({err}). "
            f"Install them with: {_MAMBA_SSM_INSTALL}; or use scan_backend='triton' or 'torch'"
        ) from err
    return selective_scan_fn, causal_conv1d_fn
