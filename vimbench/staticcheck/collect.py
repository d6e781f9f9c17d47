"""Find the declared kernel configurations and measure each one.

A source is `module:ATTRIBUTE` naming a list of KernelConfig (or a function returning
one).  The kernels must be imported without TRITON_INTERPRET (see toolchain.py).
"""

from __future__ import annotations

import fnmatch
import importlib
from typing import Any, Iterable

from vimbench.staticcheck.spec import KernelConfig

DEFAULT_SOURCES = ("vimbench.kernels.selective_scan.static_configs:static_configs",)


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


def measure_all(configs: list[KernelConfig], arch: int = 90) -> dict[str, dict[str, Any]]:
    from vimbench.staticcheck.metrics import measure

    return {config.name: measure(config, arch) for config in configs}
