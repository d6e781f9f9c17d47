"""Where the Vim mixer's selective scan comes from: the `scan_backend` sweep dimension.

- `torch`     : `bidirectional_scan_ref` (pure PyTorch, exact, CPU-capable, slow: a Python
                loop over tokens). Always available.
- `triton`    : our kernel, `mamba_triton.bidirectional_scan_fn`
                (flip-free, both directions in one call). Same signature as the reference.
- `official`  : the paper's own code path on mamba_ssm's and causal_conv1d's compiled CUDA
                kernels, flips and all (vim_official.py; ops from vimbench.official).
                Never a dependency of vimbench: asked for and missing is an error that
                names the build command.

A backend is resolved when the model is built, so a missing one fails before any timing
starts, and there is no silent fallback to a slower path.
"""

from __future__ import annotations

from collections.abc import Callable

OFFICIAL = "official"
SCAN_BACKENDS = ("torch", "triton", OFFICIAL)
FLIP_FREE_BACKENDS = ("torch", "triton")  # the ones BiMambaV2Mixer runs itself


def check_scan_backend(name: str) -> str:
    if name not in SCAN_BACKENDS:
        raise ValueError(f"unknown Vim scan_backend {name!r}; allowed: {', '.join(SCAN_BACKENDS)}")
    return name


def load_bidirectional_scan(name: str) -> Callable:
    """The flip-free scan pair for the `torch` or `triton` backend, with the signature of
    `mamba_triton.bidirectional_scan_ref`."""
    check_scan_backend(name)
    if name == "torch":
        from mamba_triton import bidirectional_scan_ref

        return bidirectional_scan_ref
    if name == "triton":
        try:
            from mamba_triton import bidirectional_scan_fn
        except ImportError as err:
            raise ImportError(
                "scan_backend='triton' needs mamba_triton.bidirectional_scan_fn (pip install ./kernels), "
                f"which could not be imported ({err}); use scan_backend='torch' meanwhile"
            ) from err
        return bidirectional_scan_fn  # checks devices itself (CUDA, or CPU under TRITON_INTERPRET=1)
    raise ValueError(f"scan_backend {name!r} has no flip-free scan pair; the official route is OfficialMixer in vimbench.models.vim_official")

