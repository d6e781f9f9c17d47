"""How a launcher starts a Triton kernel: directly on real tensors, or recorded for the compiler.

torch.compile sees the `mamba_triton_traced` ops (ops.py) through: AOTAutograd runs the
launchers themselves on fake tensors, and each kernel launch must then become a graph node
(`torch.library.wrap_triton`) that inductor later emits as a direct launch from its own
wrapper code.  On real tensors (eager calls, and the ops run as opaque custom ops) the
kernel is launched as it is: the traceable wrapper would send each launch through a
higher-order op's dispatch for nothing.

torch finds out which arguments a recorded launch writes by compiling the kernel to TTIR and
walking it, for every launch node and again in inductor's lowering: for Vim-Ti that is 72
launches of 3 kernels, each analysed 2-4 times at ~0.8 s (the scan's unrolled TTIR), so a
compile took minutes.  `memoize_mutation_analysis` keeps one answer per distinct
(kernel, argument kinds, constants) instead.
"""

from __future__ import annotations

import contextlib
import functools

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch._subclasses.functional_tensor import FunctionalTensor

_SCALARS = (bool, int, float, str, type(None), torch.dtype)


_direct_on_fakes = False


def traced(probe: torch.Tensor) -> bool:
    """True while the compiler runs a launcher on stand-in tensors (fake or functional)."""
    return not _direct_on_fakes and isinstance(probe, (FakeTensor, FunctionalTensor))


@contextlib.contextmanager
def direct_on_fakes():
    """Launch kernels as they are even on fake tensors, for tools that run a model eagerly on
    fake CUDA tensors and record the launches themselves (vimbench.staticcheck.capture)."""
    global _direct_on_fakes
    before, _direct_on_fakes = _direct_on_fakes, True
    try:
        yield
    finally:
        _direct_on_fakes = before


def launchable(kernel, probe: torch.Tensor):
    """`kernel`, or its traceable wrapper when `probe` (any tensor argument) is a stand-in;
    index the result with the grid as usual: `launchable(k, x)[grid](...)`."""
    if traced(probe):
        memoize_mutation_analysis()
        return torch.library.wrap_triton(kernel)
    return kernel


def _argument_key(name: str, value) -> tuple:
    # what the analysis can depend on: a scalar's value (constexprs select code, ints are
    # specialised), and for anything else its kind and dtype (tensors, inductor's IR nodes)
    if isinstance(value, _SCALARS):
        return name, "value", value
    if isinstance(value, (torch.SymInt, torch.SymFloat, torch.SymBool)):
        return name, "symbolic", str(value)
    dtype = getattr(value, "dtype", None)
    if dtype is None and hasattr(value, "get_dtype"):
        dtype = value.get_dtype()
    return name, type(value).__name__, dtype


def _analysis_key(kernel, kwargs: dict, tma_descriptor_metadata) -> tuple | None:
    jit_fn, config = kernel, ()
    if hasattr(kernel, "configs") and hasattr(kernel, "fn"):  # an Autotuner: torch analyses configs[0]
        jit_fn = kernel.fn
        config = tuple(sorted(kernel.configs[0].kwargs.items())) if kernel.configs else ()
    try:
        return (id(jit_fn), config, tuple(sorted(_argument_key(k, v) for k, v in kwargs.items())),
                repr(sorted(tma_descriptor_metadata.items())) if tma_descriptor_metadata else "")
    except TypeError:  # something unorderable: no memo for this call
        return None


def memoize_mutation_analysis() -> None:
    """Wrap torch's per-launch mutation analysis (identify_accessed_tensors in recent torch,
    identify_mutated_tensors before) in a memo, once.  Only our kernels are memoized (the
    key holds the kernel's identity, so others' launches are analysed as before); a torch
    without either function is left alone (compiles stay slow, results unchanged)."""
    from torch._higher_order_ops import triton_kernel_wrap as wrap

    for name in ("identify_accessed_tensors", "identify_mutated_tensors"):
        analyse = getattr(wrap, name, None)
        if analyse is None or getattr(analyse, "_mamba_triton_memo", False):
            continue
        wrap.__dict__[name] = _memoized(analyse)


def _memoized(analyse):
    memo: dict = {}

    @functools.wraps(analyse)
    def cached(kernel, kwargs, tma_descriptor_metadata, *args, **kw):
        key = _analysis_key(kernel, kwargs, tma_descriptor_metadata) if _ours(kernel) and not (args or kw) else None
        if key is None:
            return analyse(kernel, kwargs, tma_descriptor_metadata, *args, **kw)
        if key not in memo:
            memo[key] = analyse(kernel, kwargs, tma_descriptor_metadata)
        hit = memo[key]
        return list(hit) if isinstance(hit, list) else hit  # callers get their own list

    cached._mamba_triton_memo = True
    cached.memo = memo
    return cached


def _ours(kernel) -> bool:
    fn = getattr(kernel, "fn", kernel)  # an Autotuner wraps the JITFunction
    return getattr(getattr(fn, "fn", fn), "__module__", "").startswith("mamba_triton.")
