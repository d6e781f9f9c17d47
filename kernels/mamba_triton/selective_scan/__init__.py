"""Selective scan (Mamba S6) for Vim: a float64-capable reference and Triton kernels.

`selective_scan_fn` / `bidirectional_scan_fn` (fused.py, Triton, inference only) have the
semantics of `selective_scan_ref` / `bidirectional_scan_ref` (reference.py);
`selective_scan_train_fn` / `bidirectional_scan_train_fn` (autograd.py) are the same ops
with a Triton backward (backward.py).
"""

from .autograd import bidirectional_scan_train_fn, selective_scan_train_fn
from .backward import selective_scan_bwd
from .fused import bidirectional_scan_fn, plan_scan, selective_scan_fn
from .reference import bidirectional_scan_ref, selective_scan_ref

__all__ = [
    "selective_scan_fn",
    "bidirectional_scan_fn",
    "selective_scan_train_fn",
    "bidirectional_scan_train_fn",
    "selective_scan_bwd",
    "plan_scan",
    "selective_scan_ref",
    "bidirectional_scan_ref",
]
