"""What the harness sees: host, GPU (via NVML), driver, CUDA, library versions, git commit.

`collect()` is written to every run directory as `env.json`; `vimbench env` prints it.
It never initialises a CUDA context (the sweep's parent process must leave the GPU to the
cell workers), so GPU facts come from NVML and the CUDA version is the one torch was built
with.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from . import telemetry

_REPO_ROOT = Path(__file__).resolve().parent.parent


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def git_commit() -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout vimbench runs from; VIMBENCH_GIT_COMMIT where git is absent."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=_REPO_ROOT, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=_REPO_ROOT,
                                capture_output=True, text=True, timeout=10, check=True).stdout
        return commit, bool(status.strip())
    except (OSError, subprocess.SubprocessError):
        return os.environ.get("VIMBENCH_GIT_COMMIT"), None


def library_versions() -> dict[str, str | None]:
    import torch

    versions = {name: _version(name) for name in ("torch", "triton", "timm", "numpy", "nvidia-ml-py", "vimbench")}
    versions["torch"] = torch.__version__  # the running one, with its local tag (+cu130)
    versions["torch_cuda"] = torch.version.cuda
    versions["python"] = platform.python_version()
    return versions


def collect() -> dict[str, Any]:
    import torch

    commit, dirty = git_commit()
    return {
        "collected_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "git_commit": commit,
        "git_dirty": dirty,
        "versions": library_versions(),
        "cuda_available": torch.cuda.is_available(),
        "cudnn_version": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "gpu": telemetry.device_info(),
        "gpu_telemetry_now": telemetry.snapshot(),
        # MAMBA_TRITON_COMPILED_OPS: which op set compiled Vim cells call (mamba_triton/ops.py)
        "env_vars": {k: os.environ[k] for k in ("CUDA_VISIBLE_DEVICES", "TRITON_INTERPRET",
                                                 "PYTORCH_CUDA_ALLOC_CONF", "MAMBA_TRITON_COMPILED_OPS")
                     if k in os.environ},
    }


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help="print the raw JSON (as written to env.json)")


def main(args) -> int:
    info = collect()
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    versions = info["versions"]
    gpu = info["gpu"]
    lines = [
        ("host", f"{info['hostname']} ({info['platform']}, {info['cpu_count']} CPUs)"),
        ("git", f"{info['git_commit']}{' (dirty)' if info['git_dirty'] else ''}"),
        ("python", versions["python"]),
        ("torch", f"{versions['torch']} (CUDA {versions['torch_cuda']}, cuDNN {info['cudnn_version']})"),
        ("triton", versions["triton"]),
        ("timm", versions["timm"]),
        ("nvidia-ml-py", versions["nvidia-ml-py"]),
        ("cuda available", info["cuda_available"]),
    ]
    if "nvml_error" in gpu:
        lines.append(("NVML", f"unavailable ({gpu['nvml_error']})"))
    else:
        total = gpu.get("memory_total_bytes")
        lines += [
            ("GPU", f"{gpu['name']} [{gpu['nvml_index']} of {gpu['device_count']}], "
                    f"{total / 2**30:.1f} GiB" if total else gpu["name"]),
            ("driver", f"{gpu['driver_version']} (CUDA {gpu['cuda_driver_version']}), NVML {gpu['nvml_version']}"),
            ("power limit", f"{gpu['power_limit_w']} W, max SM clock {gpu['sm_clock_max_mhz']} MHz"),
            ("energy counter", gpu["energy_counter"]),
            ("now", json.dumps(info["gpu_telemetry_now"], sort_keys=True)),
        ]
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        print(f"{key:<{width}}  {value}")
    return 0
