"""mamba_triton: pure-Triton inference kernels for (Vision) Mamba, each beside its float64
reference: the selective scan (mamba_ssm's `selective_scan_fn`, plus `reverse` and the
flip-free bidirectional op), causal_conv1d's `causal_conv1d_fn`, and fused add + RMSNorm.

One folder per op (`selective_scan/`, `causal_conv1d/`, `add_rmsnorm/`), each reading
`reference.py` -> kernel -> public function.  Beside them: `shapes.py` (the benchmark
shapes), `ceilings.py` (copy bandwidth and exp2 rate of the card), `bench.py`
(`python -m mamba_triton.bench`) and `testing.py` (the closeness rule the tests use).

The public functions are imported on first use, so `import mamba_triton.shapes` needs no
triton, and TRITON_INTERPRET=1 (the CPU interpreter) is read when a kernel module is
imported, not when this package is.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> the op folder that defines it
_PUBLIC = {
    "selective_scan_fn": "selective_scan",
    "bidirectional_scan_fn": "selective_scan",
    "selective_scan_ref": "selective_scan",
    "bidirectional_scan_ref": "selective_scan",
    "causal_conv1d_fn": "causal_conv1d",
    "bidirectional_conv1d": "causal_conv1d",
    "causal_conv1d_fn_ref": "causal_conv1d",
    "bidirectional_conv1d_ref": "causal_conv1d",
    "add_rmsnorm": "add_rmsnorm",
    "add_rmsnorm_ref": "add_rmsnorm",
}

__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)


def __dir__():
    return sorted([*globals(), *__all__])
