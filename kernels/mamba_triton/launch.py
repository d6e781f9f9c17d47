"""How a launcher starts a Triton kernel: directly on real tensors, or recorded for the compiler.

torch.compile sees the `mamba_triton_traced` ops (ops.py) through: AOTAutograd runs the
launchers themselves on fake tensors, and each kernel launch must then become a graph node
(`torch.library.wrap_triton`) that inductor later emits as a direct launch from its own
wrapper code.  On real tensors (eager calls, and the ops run as opaque custom ops) the
kernel is launched as it is: the traceable wrapper would send each launch through a
higher-order op's dispatch for nothing.
"""

from __future__ import annotations

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch._subclasses.functional_tensor import FunctionalTensor


def traced(probe: torch.Tensor) -> bool:
    """True while the compiler runs a launcher on stand-in tensors (fake or functional)."""
    return isinstance(probe, (FakeTensor, FunctionalTensor))


def launchable(kernel, probe: torch.Tensor):
    """`kernel`, or its traceable wrapper when `probe` (any tensor argument) is a stand-in;
    index the result with the grid as usual: `launchable(k, x)[grid](...)`."""
    return torch.library.wrap_triton(kernel) if traced(probe) else kernel
