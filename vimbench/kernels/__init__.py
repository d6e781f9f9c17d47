"""Kernels of vimbench: each op in its own folder, reference beside the fast version."""
