"""What to compile: one kernel in one configuration, with the argument types a launch has.

A kernel package lists these in one place (`STATIC_CONFIGS`, see
`vimbench/staticcheck/scan_configs.py` for the scan) so the static check compiles exactly
the configurations its heuristics pick for the benchmark shapes.

Runtime arguments are given by example, the way the JIT sees them at a launch:
  Pointer("bf16")   a tensor argument (torch allocations are 16-byte aligned)
  an int            specialised like the JIT does: == 1 becomes a constant, a multiple of
                    16 is marked divisible by 16 (which is what lets loads vectorise)
  a float / bool    fp32 / u1
  None              a constant None (an optional tensor left out)
A torch.Tensor (any device, "meta" included) stands for a Pointer of its dtype.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

_TORCH_TO_TRITON = {
    "torch.float32": "fp32",
    "torch.float16": "fp16",
    "torch.bfloat16": "bf16",
    "torch.float64": "fp64",
    "torch.int32": "i32",
    "torch.int64": "i64",
    "torch.int16": "i16",
    "torch.int8": "i8",
    "torch.uint8": "u8",
    "torch.bool": "i1",
}


@dataclass(frozen=True)
class Pointer:
    dtype: str  # Triton element type: fp32, bf16, fp16, i32, ...
    aligned: bool = True  # data pointer divisible by 16 bytes


@dataclass(frozen=True)
class KernelConfig:
    """One compilation: `kernel` (a @triton.jit function) with these arguments and meta-parameters.

    `elements_per_iteration`: how many output elements one program (CTA) handles in one
    iteration of the kernel's hot loop (e.g. BLOCK_D * BLOCK_T * d_state for a scan tile).
    It turns the loop body's instruction counts into per-element counts; without it the
    counts are per loop iteration, which still compares a config with itself.
    """

    name: str
    kernel: Any
    args: Mapping[str, Any]
    constexprs: Mapping[str, Any] = field(default_factory=dict)
    num_warps: int = 4
    num_stages: int = 3
    elements_per_iteration: int | None = None
    maxnreg: int | None = None  # register cap per thread (triton.Config's maxnreg), None = ptxas decides
    description: str = ""


class SpecError(ValueError):
    """A KernelConfig that does not match its kernel's parameters."""


@dataclass(frozen=True)
class Signature:
    """What triton.compile needs: types by name, constants and attributes by (index,)."""

    types: dict[str, str]
    constants: dict[tuple[int], Any]
    attrs: dict[tuple[int], list]


def build_signature(config: KernelConfig) -> Signature:
    kernel = config.kernel
    arg_names = list(getattr(kernel, "arg_names", []))
    if not arg_names:
        raise SpecError(
            f"{config.name}: {kernel!r} is not a @triton.jit function (no arg_names); "
            "is TRITON_INTERPRET set? The static check must import kernels without it"
        )
    constexpr_params = {p.name for p in getattr(kernel, "params", []) if getattr(p, "is_constexpr", False)}
    unknown = (set(config.args) | set(config.constexprs)) - set(arg_names)
    if unknown:
        raise SpecError(
            f"{config.name}: {sorted(unknown)} are not parameters of {kernel.__name__} "
            f"(its parameters: {arg_names})"
        )
    types: dict[str, str] = {}
    constants: dict[tuple[int], Any] = {}
    attrs: dict[tuple[int], list] = {}
    for index, name in enumerate(arg_names):
        if name in config.constexprs or name in constexpr_params:
            if name not in config.constexprs:
                default = _param_default(kernel, index)
                if default is _MISSING:
                    raise SpecError(f"{config.name}: constexpr {name!r} of {kernel.__name__} needs a value")
                value = default
            else:
                value = config.constexprs[name]
            types[name] = "constexpr"
            constants[(index,)] = value
            continue
        if name not in config.args:
            default = _param_default(kernel, index)
            if default is _MISSING:
                raise SpecError(f"{config.name}: argument {name!r} of {kernel.__name__} has no example value")
            value = default
        else:
            value = config.args[name]
        type_name, divisible, constant = _specialize(value, name in _do_not_specialize(kernel))
        if constant is not _MISSING:
            types[name] = "constexpr"
            constants[(index,)] = constant
            continue
        types[name] = type_name
        if divisible:
            attrs[(index,)] = [["tt.divisibility", 16]]
    return Signature(types, constants, attrs)


_MISSING = object()


def _param_default(kernel, index):
    params = getattr(kernel, "params", [])
    if index < len(params) and getattr(params[index], "has_default", False):
        return params[index].default
    return _MISSING


def _do_not_specialize(kernel) -> set[str]:
    return {p.name for p in getattr(kernel, "params", []) if getattr(p, "do_not_specialize", False)}


def _specialize(value, keep_runtime: bool):
    """(type, divisible by 16, constant or _MISSING), following the JIT's rules."""
    if value is None:
        return "constexpr", False, None
    if isinstance(value, Pointer):
        return "*" + value.dtype, value.aligned, _MISSING
    if type(value).__module__.startswith("torch") and hasattr(value, "dtype") and hasattr(value, "shape"):
        dtype = _TORCH_TO_TRITON.get(str(value.dtype))
        if dtype is None:
            raise SpecError(f"tensor dtype {value.dtype} has no Triton pointer type here")
        aligned = value.device.type == "meta" or value.data_ptr() % 16 == 0
        return "*" + dtype, aligned, _MISSING
    if isinstance(value, bool):
        return "u1", False, _MISSING
    if isinstance(value, int):
        if value == 1 and not keep_runtime:
            return "constexpr", False, 1
        kind = "i32" if -(2**31) <= value < 2**31 else "i64"
        return kind, (value % 16 == 0 and not keep_runtime), _MISSING
    if isinstance(value, float):
        return "fp32", False, _MISSING
    raise SpecError(f"cannot turn {value!r} ({type(value).__name__}) into a kernel argument type")
