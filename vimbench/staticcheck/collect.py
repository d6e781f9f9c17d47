"""Find the declared kernel configurations and measure each one.

A source is `module:ATTRIBUTE` naming a list of KernelConfig (or a function returning
one).  The kernels must be imported without TRITON_INTERPRET (see toolchain.py).
"""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Iterable
from typing import Any

from vimbench.staticcheck.spec import KernelConfig

DEFAULT_SOURCES = ("vimbench.staticcheck.scan_configs:static_configs",)


class SourceError(ValueError):
    """A --configs source that does not name a list of KernelConfig."""


def load_configs(sources: Iterable[str], only: Iterable[str] = ()) -> list[KernelConfig]:
    configs: list[KernelConfig] = []
    for source in sources:
        module_name, _, attribute = source.partition(":")
        attribute = attribute or "STATIC_CONFIGS"
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise SourceError(f"--configs {source}: cannot import {module_name} ({exc})") from exc
        if not hasattr(module, attribute):
            raise SourceError(f"--configs {source}: {module_name} has no {attribute}")
        declared = getattr(module, attribute)
        declared = declared() if callable(declared) else declared
        for item in declared:
            if not isinstance(item, KernelConfig):
                raise SourceError(
                    f"--configs {source}: item {item!r} is not a vimbench.staticcheck.KernelConfig"
                )
            configs.append(item)
    only = list(only)
    if only:
        configs = [c for c in configs if any(fnmatch.fnmatchcase(c.name, g) for g in only)]
    names = [c.name for c in configs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SourceError(f"configuration names must be unique; repeated: {duplicates}")
    return configs


def _signature_key(config: KernelConfig) -> tuple:
    """Configurations with equal keys compile to the same cubin (Triton would cache-hit)."""
    from vimbench.staticcheck.spec import build_signature

    sig = build_signature(config)
    return (
        id(config.kernel),
        tuple(sorted(sig.types.items())),
        tuple(sorted((k, repr(v)) for k, v in sig.constants.items())),
        tuple(sorted((k, repr(v)) for k, v in sig.attrs.items())),
        config.num_warps,
        config.num_stages,
        config.maxnreg,
        config.elements_per_iteration,
    )


def fingerprint(config: KernelConfig, arch: int) -> str:
    """What decides the compiled code: the kernel's source and everything it calls
    (`JITFunction.cache_key`, Triton's own cache key of the source), the specialised
    signature, the launch options, the target and the compiler version."""
    import hashlib

    import triton

    key = (config.kernel.cache_key, _signature_key(config)[1:], arch, triton.__version__)
    return hashlib.sha256(repr(key).encode()).hexdigest()[:24]


_FORKED_CONFIGS: list[KernelConfig] = []


def _measure_forked(index: int, arch: int) -> dict[str, Any]:
    from vimbench.staticcheck.metrics import measure

    return measure(_FORKED_CONFIGS[index], arch)


def measure_all(
    configs: list[KernelConfig],
    arch: int = 90,
    jobs: int | None = None,
    reuse: dict[str, dict[str, Any]] | None = None,
    log=None,
) -> dict[str, dict[str, Any]]:
    """Measure every configuration; each distinct compilation happens once, in parallel
    forked processes (compiling is CPU-bound: ptxas and LLVM).

    `reuse` (a baseline's configs): a configuration whose fingerprint equals the one
    recorded there would compile to the same cubin, so its recorded metrics are taken as
    they are.  Any change to the kernel source, its launch or the compiler recompiles."""
    import multiprocessing
    import os

    reuse = reuse or {}
    prints = {config.name: fingerprint(config, arch) for config in configs}
    measured: dict[str, dict[str, Any]] = {}
    to_compile = []
    for config in configs:
        recorded = reuse.get(config.name)
        if recorded is not None and recorded.get("fingerprint") == prints[config.name]:
            measured[config.name] = dict(recorded)
        else:
            to_compile.append(config)
    if log:
        log(
            f"{len(measured)} configurations unchanged since the baseline (fingerprint), "
            f"{len(to_compile)} to compile"
        )
    unique: dict[tuple, int] = {}
    for index, config in enumerate(to_compile):
        unique.setdefault(_signature_key(config), index)
    firsts = sorted(unique.values())
    jobs = jobs or min(8, os.cpu_count() or 1, max(len(firsts), 1))
    _FORKED_CONFIGS[:] = to_compile
    try:
        if jobs > 1:
            with multiprocessing.get_context("fork").Pool(jobs) as pool:
                results = pool.starmap(_measure_forked, [(i, arch) for i in firsts])
        else:
            results = [_measure_forked(i, arch) for i in firsts]
    finally:
        _FORKED_CONFIGS.clear()
    by_first = dict(zip(firsts, results))
    for config in to_compile:
        metrics = dict(by_first[unique[_signature_key(config)]])
        metrics["description"] = config.description
        metrics["fingerprint"] = prints[config.name]
        measured[config.name] = metrics
    return {config.name: measured[config.name] for config in configs}
