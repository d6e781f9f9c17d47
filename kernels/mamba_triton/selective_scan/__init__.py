"""Selective scan (Mamba S6) for Vim: a float64-capable reference and Triton kernels.

`selective_scan_fn` / `bidirectional_scan_fn` (fused.py, Triton, inference only) have the
semantics of `selective_scan_ref` / `bidirectional_scan_ref` (reference.py).
"""

from .fused import bidirectional_scan_fn, plan_scan, selective_scan_fn
from .reference import bidirectional_scan_ref, selective_scan_ref

__all__ = [
    "selective_scan_fn",
    "bidirectional_scan_fn",
    "plan_scan",
    "selective_scan_ref",
    "bidirectional_scan_ref",
]
