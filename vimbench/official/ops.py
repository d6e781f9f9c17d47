"""The compiled ops the official Vim forward runs on, found or explained.

    selective_scan_fwd  mamba_ssm's `selective_scan_cuda.fwd(u, delta, A, B, C, D, z,
                        delta_bias, delta_softplus) -> [out, chunk_states, out_z]`, the call
                        the official `mamba_inner_fn_no_out_proj` makes
    causal_conv1d_fwd   causal_conv1d's `causal_conv1d_fwd_function(x, weight, bias, seq_idx,
                        initial_states, final_states_out, silu) -> out`
    rms_norm_fn         mamba_ssm's Triton fused add + RMSNorm (`ops/triton/layer_norm.py`)

They are found on sys.path as installed packages, or else in the directory that
`python -m vimbench.official.build` writes (`$VIMBENCH_OFFICIAL_KERNELS`, default
`~/.cache/vimbench/official-kernels/torch-<torch version>`), which is then put on sys.path.
Missing ops are an ImportError naming that command: never a silent fallback to our kernels.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

OFFICIAL_BUILD_COMMAND = "python -m vimbench.official.build"
BUILD_DIR_ENV = "VIMBENCH_OFFICIAL_KERNELS"
MANIFEST = "vimbench-official-build.json"


def default_build_dir() -> Path:
    """Where the build script writes, and the loader looks, for this torch build."""
    import torch

    if os.environ.get(BUILD_DIR_ENV):
        return Path(os.environ[BUILD_DIR_ENV]).expanduser()
    return Path.home() / ".cache" / "vimbench" / "official-kernels" / f"torch-{torch.__version__}"


@dataclass(frozen=True)
class OfficialOps:
    selective_scan_fwd: Callable
    causal_conv1d_fwd: Callable
    rms_norm_fn: Callable
    origin: str          # where the compiled modules were loaded from
    build: dict          # the build manifest, when the build script made them ({} otherwise)


def _import_ops():
    import selective_scan_cuda
    from causal_conv1d.cpp_functions import causal_conv1d_fwd_function
    from mamba_ssm.ops.triton.layer_norm import rms_norm_fn

    return selective_scan_cuda, causal_conv1d_fwd_function, rms_norm_fn


_cached: OfficialOps | None = None


def load_official_ops() -> OfficialOps:
    """The official ops, importing them once a process; ImportError with the fix otherwise."""
    global _cached
    if _cached is not None:
        return _cached
    build_dir = default_build_dir()
    try:
        modules = _import_ops()
    except ImportError as first:
        if not (build_dir / MANIFEST).is_file():
            raise ImportError(
                f"Vim variant 'official' needs mamba_ssm's and causal_conv1d's compiled kernels ({first}); "
                f"none are importable and {build_dir} holds no build. Build them for this GPU with "
                f"`{OFFICIAL_BUILD_COMMAND}` (needs nvcc; see its --help), or use variant 'triton-fused'"
            ) from first
        sys.path.insert(0, str(build_dir))
        try:
            modules = _import_ops()
        except ImportError as err:
            raise ImportError(f"Vim variant 'official': the build in {build_dir} does not import ({err}); "
                              f"rebuild it with `{OFFICIAL_BUILD_COMMAND}`") from err
    scan_module, conv_fwd, rms_norm_fn = modules
    origin = str(Path(scan_module.__file__).resolve().parent)
    manifest = Path(origin) / MANIFEST
    build = json.loads(manifest.read_text()) if manifest.is_file() else {}
    _cached = OfficialOps(scan_module.fwd, conv_fwd, rms_norm_fn, origin, build)
    return _cached
