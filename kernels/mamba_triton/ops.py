"""The forward kernels as `torch.library` custom ops (namespace `mamba_triton`), so that
`torch.compile` sees each kernel call as one opaque node of known output shape instead of
tracing Triton's launch path (the scan's `plan_scan`, grid and flag arithmetic, autotune
caches).  Each op's real implementation is the public function of its folder, run outside
the graph; its `register_fake` twin only allocates outputs of the right shape, dtype and
layout, which is all the compiler needs.

Ops (inference only: no autograd formula; calling one on inputs that require grad fails
as the public functions do):
    bidirectional_scan      the Vim v2 scan pair -> new output
    bidirectional_scan_out  the same, written into `out` (its first argument, mutated; returns nothing)
    selective_scan          one direction (mamba_ssm semantics) -> (out, last_state)
    bidirectional_conv1d    both conv1d (k=4) + SiLU directions -> (out_f, out_b)
    causal_conv1d           causal_conv1d_fn
    add_rmsnorm             residual + hidden, RMSNorm -> (out, new residual)
    add_rmsnorm_            the same, the residual updated in place -> out
    rmsnorm                 RMSNorm alone (the first block, whose residual is hidden itself)

A custom op may neither return an input nor a view of one, which is why the in-place and
"residual is hidden" cases are ops of their own; `add_rmsnorm`, `bidirectional_scan`, ...
below pick among them with the public functions' signatures, and are what the Vim model
calls.  Run eagerly (not under torch.compile) they call the public functions directly:
the dispatcher's trip through a Python custom op costs ~35 us a call on a busy CPU, ~2.5 ms
a Vim-Ti forward of 72 kernel calls, which matters where the model is launch-bound.
Set `EAGER_THROUGH_OPS = True` to send eager calls through the ops as well (the tests do).

Each op is registered twice, with one implementation:
    mamba_triton::*         opaque: compiled code calls the launcher through the dispatcher
                            on every call (its fake only allocates the outputs)
    mamba_triton_traced::*  seen through: the compiler runs the launcher itself on fake
                            tensors, each kernel launch becomes a graph node
                            (launch.launchable), and inductor's wrapper launches the kernels
                            directly; plan, checks and allocations are paid once, at compile
                            time.  At Vim-Ti 224 px the opaque ops' dispatcher trips and
                            launcher Python made the compiled model host-bound (NOTES.md).
`COMPILED_OPS` picks the set the wrappers call: "opaque" (the default until the traced set
is timed on a GPU; it cannot run under TRITON_INTERPRET, whose interpreted kernels cannot
take fake tensors) or "traced"; the environment variable MAMBA_TRITON_COMPILED_OPS sets it.
"""

from __future__ import annotations

import os

import torch

from .add_rmsnorm import fused as _norm
from .causal_conv1d import fused as _conv
from .selective_scan import fused as _scan

EAGER_THROUGH_OPS = False
OP_SETS = {"opaque": "mamba_triton", "traced": "mamba_triton_traced"}


def _default_op_set() -> str:
    chosen = os.environ.get("MAMBA_TRITON_COMPILED_OPS", "opaque")
    if chosen not in OP_SETS:
        raise ValueError(f"environment variable MAMBA_TRITON_COMPILED_OPS={chosen!r}: allowed values are "
                         f"{', '.join(OP_SETS)}")
    return chosen


COMPILED_OPS = _default_op_set()


def _through_ops() -> bool:
    # dynamo reads is_compiling() as True while tracing: compiled code always calls the ops
    return EAGER_THROUGH_OPS or torch.compiler.is_compiling()


def _ops():
    return getattr(torch.ops, OP_SETS[COMPILED_OPS])


def _op(name: str, *, mutates_args: tuple[str, ...], schema: str):
    """Register the decorated implementation as both ops `name` (module docstring); returns
    the opaque one, whose fake is then registered on it.  The traced twin is what
    torch.library.triton_op builds, from its public parts (triton_op's own schema argument
    is ignored by some torch releases): its fake is the implementation itself, and under
    functionalization (AOTAutograd) the call is replaced by the implementation's body."""
    from torch._subclasses.functional_tensor import FunctionalTensorMode

    def register(impl):
        traced = torch.library.custom_op(f"{OP_SETS['traced']}::{name}", impl, mutates_args=mutates_args,
                                         schema=schema)
        traced.register_fake(impl)

        def decompose(mode, op, types, args, kwargs):
            with mode:
                return impl(*args, **kwargs)

        traced.register_torch_dispatch(FunctionalTensorMode, decompose)
        return torch.library.custom_op(f"{OP_SETS['opaque']}::{name}", impl, mutates_args=mutates_args,
                                       schema=schema)

    return register


# Schemas are spelled out (not inferred from annotations) so the file reads like the ops'
# contract, and optional arguments keep their defaults for torch.ops callers.
_SCAN_ARGS = ("Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D, Tensor? delta_bias, "
              "Tensor u_b, Tensor delta_b, Tensor A_b, Tensor B_b, Tensor C_b, Tensor? D_b, Tensor? delta_bias_b, "
              "Tensor z, bool delta_softplus=True, Tensor? delta_proj_weight=None, "
              "Tensor? delta_proj_weight_b=None, str scheme=\"auto\", SymInt? seg_len=None")


# ---------------------------------------------------------------- selective scan

@_op("bidirectional_scan", mutates_args=(),
                         schema=f"({_SCAN_ARGS}) -> Tensor")
def _bidirectional_scan(u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z,
                        delta_softplus=True, delta_proj_weight=None, delta_proj_weight_b=None, scheme="auto",
                        seg_len=None):
    return _scan.bidirectional_scan_fn(
        u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z, delta_softplus,
        delta_proj_weight=delta_proj_weight, delta_proj_weight_b=delta_proj_weight_b, scheme=scheme,
        seg_len=seg_len)


@_bidirectional_scan.register_fake
def _(u, *args, **kwargs):
    return _scan._empty_like_layout(u)  # the real op's allocation: u's shape, dtype and layout


@_op("bidirectional_scan_out", mutates_args=("out",),
                         schema=f"(Tensor(a!) out, {_SCAN_ARGS}) -> ()")
def _bidirectional_scan_out(out, u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b,
                            z, delta_softplus=True, delta_proj_weight=None, delta_proj_weight_b=None,
                            scheme="auto", seg_len=None):
    _scan.bidirectional_scan_fn(
        u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z, delta_softplus,
        delta_proj_weight=delta_proj_weight, delta_proj_weight_b=delta_proj_weight_b, scheme=scheme,
        seg_len=seg_len, out=out)


@_bidirectional_scan_out.register_fake
def _(*args, **kwargs):
    return None


@_op("selective_scan", mutates_args=(),
    schema="(Tensor u, Tensor delta, Tensor A, Tensor B, Tensor C, Tensor? D=None, Tensor? z=None, "
           "Tensor? delta_bias=None, bool delta_softplus=False, bool reverse=False, "
           "Tensor? delta_proj_weight=None, str scheme=\"auto\", SymInt? seg_len=None) -> (Tensor, Tensor)")
def _selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False, reverse=False,
                    delta_proj_weight=None, scheme="auto", seg_len=None):
    return _scan.selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state=True,
                                   reverse=reverse, delta_proj_weight=delta_proj_weight, scheme=scheme,
                                   seg_len=seg_len)


@_selective_scan.register_fake
def _(u, delta, A, *args, **kwargs):
    batch, dim, _ = u.shape
    return _scan._empty_like_layout(u), u.new_empty((batch, dim, A.shape[1]), dtype=torch.float32)


def bidirectional_scan(u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z,
                       delta_softplus=True, *, delta_proj_weight=None, delta_proj_weight_b=None, out=None,
                       scheme="auto", seg_len=None):
    """`selective_scan.bidirectional_scan_fn` (same arguments, same result) through the
    custom ops: with `out`, the mutating op, which returns nothing, so `out` is returned here."""
    if not _through_ops():
        return _scan.bidirectional_scan_fn(u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b,
                                           delta_bias_b, z, delta_softplus, delta_proj_weight=delta_proj_weight,
                                           delta_proj_weight_b=delta_proj_weight_b, out=out, scheme=scheme,
                                           seg_len=seg_len)
    args = (u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z, delta_softplus,
            delta_proj_weight, delta_proj_weight_b, scheme, seg_len)
    if out is None:
        return _ops().bidirectional_scan(*args)
    _ops().bidirectional_scan_out(out, *args)
    return out


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False, reverse=False, *, delta_proj_weight=None, scheme="auto", seg_len=None):
    """`selective_scan.selective_scan_fn` through the custom op (the last state is always
    computed: it is a small (batch, dim, N) tensor)."""
    if not _through_ops():
        return _scan.selective_scan_fn(u, delta, A, B, C, D, z, delta_bias, delta_softplus, return_last_state,
                                       reverse, delta_proj_weight=delta_proj_weight, scheme=scheme, seg_len=seg_len)
    out, last = _ops().selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus, reverse,
                                                      delta_proj_weight, scheme, seg_len)
    return (out, last) if return_last_state else out


# ---------------------------------------------------------------- conv1d

@_op("bidirectional_conv1d", mutates_args=(),
    schema="(Tensor x, Tensor weight, Tensor? bias, Tensor weight_b, Tensor? bias_b, "
           "ScalarType? out_dtype=None) -> (Tensor, Tensor)")
def _bidirectional_conv1d(x, weight, bias, weight_b, bias_b, out_dtype=None):
    return _conv.bidirectional_conv1d(x, weight, bias, weight_b, bias_b, out_dtype)


@_bidirectional_conv1d.register_fake
def _(x, weight, bias, weight_b, bias_b, out_dtype=None):
    y = x.new_empty(x.shape, dtype=out_dtype or x.dtype)  # contiguous (batch, L, E)
    return y, torch.empty_like(y)


@_op("causal_conv1d", mutates_args=(),
                         schema="(Tensor x, Tensor weight, Tensor? bias=None, str? activation=None) -> Tensor")
def _causal_conv1d(x, weight, bias=None, activation=None):
    return _conv.causal_conv1d_fn(x, weight, bias, activation)


@_causal_conv1d.register_fake
def _(x, weight, bias=None, activation=None):
    batch, dim, L = x.shape
    if x.stride(1) < x.stride(2):  # the real op keeps a channels-last x channels-last
        return x.new_empty((batch, L, dim)).transpose(1, 2)
    return x.new_empty((batch, dim, L))


def bidirectional_conv1d(x, weight, bias, weight_b, bias_b, out_dtype=None):
    """`causal_conv1d.bidirectional_conv1d` (default launch shape) through the custom op."""
    if not _through_ops():
        return _conv.bidirectional_conv1d(x, weight, bias, weight_b, bias_b, out_dtype)
    return _ops().bidirectional_conv1d(x, weight, bias, weight_b, bias_b, out_dtype)


def causal_conv1d(x, weight, bias=None, activation=None):
    """`causal_conv1d.causal_conv1d_fn` through the custom op."""
    if not _through_ops():
        return _conv.causal_conv1d_fn(x, weight, bias, activation)
    return _ops().causal_conv1d(x, weight, bias, activation)


# ---------------------------------------------------------------- add + RMSNorm

def _residual_dtype(hidden: torch.Tensor, residual: torch.Tensor | None) -> torch.dtype:
    wide = hidden.dtype == torch.float64 or (residual is not None and residual.dtype == torch.float64)
    return torch.float64 if wide else torch.float32


_NORM_ARGS = "Tensor weight, float eps, ScalarType? out_dtype"


@_op("add_rmsnorm", mutates_args=(),
                         schema=f"(Tensor hidden, Tensor? residual, {_NORM_ARGS}) -> (Tensor, Tensor)")
def _add_rmsnorm(hidden, residual, weight, eps, out_dtype):
    out, res = _norm.add_rmsnorm(hidden, residual, weight, eps, out_dtype)
    # the kernel hands hidden back as the residual when it needs no conversion: an op must
    # not return an input (the `add_rmsnorm` wrapper sends that case to `rmsnorm`)
    return out, res.clone() if res is hidden else res


@_add_rmsnorm.register_fake
def _(hidden, residual, weight, eps, out_dtype):
    out = hidden.new_empty(hidden.shape, dtype=out_dtype or hidden.dtype)
    return out, hidden.new_empty(hidden.shape, dtype=_residual_dtype(hidden, residual))


@_op("add_rmsnorm_", mutates_args=("residual",),
                         schema=f"(Tensor hidden, Tensor(a!) residual, {_NORM_ARGS}) -> Tensor")
def _add_rmsnorm_inplace(hidden, residual, weight, eps, out_dtype):
    return _norm.add_rmsnorm(hidden, residual, weight, eps, out_dtype, residual_out=residual)[0]


@_add_rmsnorm_inplace.register_fake
def _(hidden, residual, weight, eps, out_dtype):
    return hidden.new_empty(hidden.shape, dtype=out_dtype or hidden.dtype)


@_op("rmsnorm", mutates_args=(), schema=f"(Tensor hidden, {_NORM_ARGS}) -> Tensor")
def _rmsnorm(hidden, weight, eps, out_dtype):
    return _norm.add_rmsnorm(hidden, None, weight, eps, out_dtype)[0]


@_rmsnorm.register_fake
def _(hidden, weight, eps, out_dtype):
    return hidden.new_empty(hidden.shape, dtype=out_dtype or hidden.dtype)


def add_rmsnorm(hidden, residual, weight, eps=1e-5, out_dtype=None, *, residual_out=None):
    """`add_rmsnorm.add_rmsnorm` (same arguments, same results) through the custom ops.
    `residual_out` may only be `residual` itself (the in-place update) or None."""
    if residual_out is not None and residual_out is not residual:
        raise ValueError("add_rmsnorm (op): residual_out must be the residual itself (in place) or None")
    if not _through_ops():
        return _norm.add_rmsnorm(hidden, residual, weight, eps, out_dtype, residual_out=residual_out)
    if residual is None and hidden.dtype == _residual_dtype(hidden, None):
        # the residual is hidden itself: no copy of the first block's token map
        return _ops().rmsnorm(hidden, weight, eps, out_dtype), hidden
    if residual_out is not None:
        return _ops().add_rmsnorm_(hidden, residual, weight, eps, out_dtype), residual
    return _ops().add_rmsnorm(hidden, residual, weight, eps, out_dtype)
