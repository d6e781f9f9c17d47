"""Selective scan (Mamba S6) for Vim: a float64-capable reference and Triton kernels."""

from .reference import bidirectional_scan_ref, selective_scan_ref

__all__ = ["selective_scan_ref", "bidirectional_scan_ref"]
