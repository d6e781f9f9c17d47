"""Where the Vim mixer's selective scan comes from: the `scan_backend` sweep dimension.

- `torch`     : `bidirectional_scan_ref` (pure PyTorch, exact, CPU-capable, slow: a Python
                loop over tokens). Always available.
- `triton`    : our kernel, `mamba_triton.bidirectional_scan_fn` through its custom op
                `mamba_triton.ops.bidirectional_scan` (flip-free, both directions in one
                call; torch.compile sees one node). Same signature as the reference.
                Under autograd, `bidirectional_scan_train_fn` (Triton backward kernels;
                vim_train_kernels.py).
- `official`  : the paper's own code path on mamba_ssm's and causal_conv1d's compiled CUDA
                kernels, flips and all (vim_official.py; ops from vimbench.official).
                Never a dependency of vimbench: asked for and missing is an error that
                names the build command.

A backend is resolved when the model is built, so a missing one fails before any timing
starts, and there is no silent fallback to a slower path.  Asked for nothing (a Vim built
through timm with defaults), a model gets `default_route(device)`: our fused Triton kernels
on a CUDA device, the torch reference elsewhere; the choice is kept in `model.scan_backend`
and `model.fused`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

OFFICIAL = "official"
SCAN_BACKENDS = ("torch", "triton", OFFICIAL)
FLIP_FREE_BACKENDS = ("torch", "triton")  # the ones BiMambaV2Mixer runs itself


def default_route(device=None) -> tuple[str, bool]:
    """(scan_backend, fused) for a Vim built without a choice: ("triton", True) when it will run on
    CUDA, ("torch", False) otherwise.  `device`: where it will run (default: CUDA if one is visible)."""
    import torch

    device_type = torch.device(device).type if device is not None else ("cuda" if torch.cuda.is_available() else "cpu")
    return ("triton", True) if device_type == "cuda" else ("torch", False)


def check_device(scan_backend: str, fused: bool, tensor) -> None:
    """Raise, naming the routes and how to pick one, when a Triton route (our scan, or the fused
    block kernels) gets a non-CUDA tensor; under TRITON_INTERPRET=1 they run on the CPU too,
    exactly but slowly.  The official route is left to its ops (the real ones are CUDA-only;
    the tests run CPU stand-ins)."""
    if tensor.device.type == "cuda" or scan_backend == OFFICIAL or not (scan_backend == "triton" or fused):
        return
    if os.environ.get("TRITON_INTERPRET") == "1":
        return
    route = scan_backend + ("-fused" if fused else "")
    raise RuntimeError(
        f"this Vim runs the {route!r} route, which needs CUDA tensors, and got tensors on {tensor.device}. "
        "Pick the route when building the model: 'torch' (PyTorch reference scan, any device, slow: the default "
        "without CUDA), 'triton' (vimbench's Triton scan, CUDA), 'triton-fused' (the Triton scan plus fused "
        "add+RMSNorm and conv1d kernels, CUDA: the default with CUDA), 'official' (the paper's code on mamba_ssm's "
        "CUDA kernels, built by `python -m vimbench.official.build`). For example "
        "timm.create_model('vim_tiny_patch16_224', scan_backend='torch') or vimbench.create_model('vim_tiny', "
        "'torch') for the CPU; timm.create_model(..., scan_backend='triton', fused=True) for 'triton-fused'. "
        "(TRITON_INTERPRET=1, set before importing vimbench, runs the Triton routes on the CPU, exactly but "
        "very slowly.)")


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
            # bidirectional_scan_fn through its custom op: torch.compile sees one opaque node
            from mamba_triton.ops import bidirectional_scan
        except ImportError as err:
            raise ImportError(
                "scan_backend='triton' needs mamba_triton.ops.bidirectional_scan (pip install ./kernels), "
                f"which could not be imported ({err}); use scan_backend='torch' meanwhile"
            ) from err
        from .vim_train_kernels import bidirectional_scan_train, grad_aware

        # checks devices itself (CUDA, or CPU under TRITON_INTERPRET=1)
        return grad_aware(bidirectional_scan, bidirectional_scan_train)
    raise ValueError(f"scan_backend {name!r} has no flip-free scan pair; the official route is OfficialMixer in vimbench.models.vim_official")

