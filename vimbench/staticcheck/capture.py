"""Turn a call of a public kernel function into the launches it makes, without a GPU.

The call runs on fake CUDA tensors (torch's FakeTensorMode: shapes, strides, dtypes and
storage offsets, no memory), with the device queries answered as an H100 would answer
them, and with `JITFunction.run` replaced by a recorder.  So the launcher's own code -
its per-shape heuristics, its stride arguments, its constexpr flags - decides what gets
compiled, and the static check cannot drift from what the benchmarks run.
"""

from __future__ import annotations

import contextlib
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from unittest import mock

from vimbench.staticcheck.spec import _TORCH_TO_TRITON, KernelConfig, Pointer

H100 = dict(
    name="NVIDIA H100 80GB HBM3",
    major=9,
    minor=0,
    multi_processor_count=132,
    total_memory=85_045_395_456,
    L2_cache_size=52_428_800,
)
_LAUNCH_OPTIONS = ("num_warps", "num_stages", "num_ctas", "maxnreg")


@dataclass
class Launch:
    kernel: Any  # the JITFunction
    args: tuple
    kwargs: dict[str, Any]
    grid: Any


@contextlib.contextmanager
def fake_cuda(properties: dict[str, Any] = H100):
    """Fake CUDA tensors plus the device queries a launcher makes, answered for one card.

    torch.cuda.is_available() is left alone: faking it makes torch initialise the real
    driver on the next indexing op."""
    import torch
    from torch._subclasses.fake_tensor import FakeTensorMode

    props = types.SimpleNamespace(**properties)
    with contextlib.ExitStack() as stack:
        for attribute, value in (
            ("get_device_properties", lambda *a, **k: props),
            ("get_device_capability", lambda *a, **k: (props.major, props.minor)),
            ("get_device_name", lambda *a, **k: props.name),
        ):
            stack.enter_context(mock.patch.object(torch.cuda, attribute, value))
        stack.enter_context(FakeTensorMode(allow_non_fake_inputs=True))
        yield


@contextlib.contextmanager
def recorded_launches(keep: bool = True):
    """Replace every Triton kernel launch by a record of it; yields the list of records
    (left empty with keep=False: a record keeps every tensor the launch was given alive).
    The launchers launch directly on these fake tensors (not the compiler's traced form)."""
    from mamba_triton.launch import direct_on_fakes
    from triton.runtime.jit import JITFunction

    launches: list[Launch] = []

    def record(self, *args, grid, warmup=False, **kwargs):
        if keep:
            launches.append(Launch(self, args, kwargs, grid))

    with mock.patch.object(JITFunction, "run", record), direct_on_fakes():
        yield launches


@contextlib.contextmanager
def cuda_autocast(dtype):
    """torch.autocast("cuda") as on a GPU, for fake CUDA tensors: without a device its
    constructor turns itself off (with a warning), and the model would run in fp32."""
    import torch

    with mock.patch.object(torch.cuda, "is_available", lambda: True):
        autocast = torch.autocast("cuda", dtype=dtype)
    with autocast:
        yield


def capture(call: Callable[[], Any], properties: dict[str, Any] = H100) -> list[Launch]:
    """The launches `call()` makes when run on fake CUDA tensors; `call` builds its inputs
    itself (inside the fake mode) with device="cuda"."""
    with fake_cuda(properties), recorded_launches() as launches, warnings.catch_warnings():
        # a launcher's alignment check reads data_ptr(), which a fake tensor answers with 0
        warnings.filterwarnings("ignore", message="Accessing the data pointer of FakeTensor")
        call()
    return launches


def _pointer(tensor) -> Pointer:
    dtype = _TORCH_TO_TRITON.get(str(tensor.dtype))
    if dtype is None:
        raise ValueError(f"tensor argument of dtype {tensor.dtype} has no Triton pointer type")
    # allocations are 16-byte aligned; a view is aligned only if its offset keeps it so
    return Pointer(dtype, aligned=(tensor.storage_offset() * tensor.element_size()) % 16 == 0)


def to_config(
    launch: Launch,
    name: str,
    elements_per_iteration: Callable[[dict], int] | None = None,
    description: str = "",
) -> KernelConfig:
    """A KernelConfig that compiles exactly what `launch` would have compiled."""
    import torch

    kernel = launch.kernel
    params = list(kernel.params)
    if len(launch.args) > len(params):
        raise ValueError(f"{name}: {len(launch.args)} positional arguments for {len(params)} parameters")
    bound = {p.name: value for p, value in zip(params, launch.args)}
    bound.update({k: v for k, v in launch.kwargs.items() if k not in _LAUNCH_OPTIONS})
    args: dict[str, Any] = {}
    constexprs: dict[str, Any] = {}
    for param in params:
        if param.name not in bound:
            continue  # falls back to the parameter's default in build_signature
        value = bound[param.name]
        if param.is_constexpr:
            constexprs[param.name] = value
        elif isinstance(value, torch.Tensor):
            args[param.name] = _pointer(value)
        else:
            args[param.name] = value
    options = {k: launch.kwargs[k] for k in ("num_warps", "num_stages", "maxnreg") if k in launch.kwargs}
    return KernelConfig(
        name=name,
        kernel=kernel,
        args=args,
        constexprs=constexprs,
        num_warps=options.get("num_warps", 4),
        num_stages=options.get("num_stages", 3),
        maxnreg=options.get("maxnreg"),
        elements_per_iteration=elements_per_iteration(constexprs) if elements_per_iteration else None,
        description=description,
    )
