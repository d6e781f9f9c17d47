"""Compile a Triton kernel for a named GPU without one, and find the tools that read the cubin.

Triton compiles for any target it was built with (`GPUTarget("cuda", 90, 32)` is H100's
sm_90) using its own bundled ptxas, so this runs on CPU-only CI.  `cuobjdump` ships in the
same folder as ptxas (`triton/backends/nvidia/bin`).

Known to work with triton 3.6 and 3.8: both take `ASTSource(fn, signature, constexprs,
attrs)` with the signature keyed by parameter name (constexprs included as "constexpr")
and constants/attributes keyed by `(index,)` tuples.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vimbench.staticcheck.spec import KernelConfig, build_signature

H100_TARGET = ("cuda", 90, 32)


class ToolchainError(RuntimeError):
    """Triton or cuobjdump is missing or unusable here."""


@dataclass(frozen=True)
class CompiledKernel:
    config_name: str
    kernel_name: str
    cubin: bytes
    shared_bytes: int  # from Triton's metadata (static shared memory the launch requests)
    num_warps: int
    num_stages: int
    triton_version: str
    arch: int


@lru_cache(maxsize=1)
def cuobjdump_path() -> Path:
    import triton

    bundled = Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"
    if bundled.exists():
        return bundled
    found = shutil.which("cuobjdump")
    if found:
        return Path(found)
    raise ToolchainError(
        f"cuobjdump not found: looked for {bundled} (shipped with triton's NVIDIA backend) and on PATH"
    )


def compile_config(config: KernelConfig, arch: int = 90) -> CompiledKernel:
    """Compile one KernelConfig to a cubin for sm_<arch>; no GPU needed.

    Triton's own cache (TRITON_CACHE_DIR, default ~/.triton/cache) makes a repeat compile of
    unchanged source cheap.
    """
    if os.environ.get("TRITON_INTERPRET", "0") not in ("", "0"):
        raise ToolchainError(
            "TRITON_INTERPRET is set: kernels imported now are interpreter objects and cannot "
            "be compiled; run the static check in a process without it"
        )
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = build_signature(config)
    source = ASTSource(
        fn=config.kernel, signature=signature.types, constexprs=signature.constants, attrs=signature.attrs
    )
    target = GPUTarget(H100_TARGET[0], arch, H100_TARGET[2])
    options = {"num_warps": config.num_warps, "num_stages": config.num_stages}
    if config.maxnreg is not None:
        options["maxnreg"] = config.maxnreg
    compiled = triton.compile(source, target=target, options=options)
    metadata = compiled.metadata
    shared = metadata.shared if hasattr(metadata, "shared") else metadata.get("shared", 0)
    return CompiledKernel(
        config_name=config.name,
        kernel_name=config.kernel.__name__,
        cubin=compiled.asm["cubin"],
        shared_bytes=int(shared or 0),
        num_warps=config.num_warps,
        num_stages=config.num_stages,
        triton_version=triton.__version__,
        arch=arch,
    )
