"""Public Triton selective scan: `selective_scan_fn` (one direction, mamba_ssm semantics)
and `bidirectional_scan_fn` (the Vim v2 pair, flip-free, gate fused).  Inference only.

Shapes (any strides; (batch, L, dim)-contiguous memory viewed as (batch, dim, L) is the
fast layout and is never copied):
    u, delta, z : (batch, dim, L)   fp32 | fp16 | bf16 (one dtype)
    A           : (dim, N)          fp32, N in 1..64
    B, C        : (batch, N, L)     fp32 | fp16 | bf16
    D, delta_bias : (dim,)          floating (read as fp32)
With `delta_proj_weight` W (dim, R) (floating, read as fp32; R in 1..64), `delta` is the
low-rank dt_low (batch, R, L) instead, and the kernel forms delta = W @ dt_low per step:
the (batch, dim, L) delta of Vim's dt_proj is never written to memory.
The output has u's dtype and u's memory layout; the state is fp32.  The kernels and the
choice between the direct and the chunked scheme are in `triton_kernels.py`; the exact
reference is `reference.py`.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import torch

from ..host_math import cdiv, next_power_of_2
from ..launch import launchable, traced
from . import triton_kernels as K

_IO_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
MAX_N = 64
MAX_DT_RANK = 64
MAX_SEGMENTS = 256  # the carry kernel holds every segment of a column in registers


def _interpreting() -> bool:
    return os.environ.get("TRITON_INTERPRET") == "1"


@dataclass(frozen=True)
class ScanPlan:
    """How one call is cut into programs.  `scheme` is "direct" (one program scans the
    whole sequence of its channel block) or "chunked" (segments of `seg_len` steps
    scanned in parallel, three launches)."""

    scheme: str
    block_d: int
    num_warps: int
    steps_per_group: int  # T: loads of T steps are issued together, T steps unrolled
    seg_len: int  # == L for "direct"
    max_registers: int | None = None  # ptxas cap (maxnreg): more resident warps, maybe spills
    # states (of N) whose decay exp2 runs as an FMA polynomial instead of MUFU.EX2: moves
    # exponentials off the MUFU pipe at ~10 more issued instructions each (NOTES.md)
    poly_exp_states: int = 0

    def n_seg(self, L: int) -> int:
        return max(1, cdiv(L, self.seg_len))


@functools.cache
def _sm_count(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _steps_per_group(N: int) -> int:
    """T: steps unrolled per group.  A thread holds N states, N A-values and a group's
    loads, so T shrinks as N grows: at N = 64, T = 2 already spills and takes ptxas 27 s
    (T = 4 under the 168-register cap: 2.5 KB of stack, 97 s); T = 1 fits in 177
    registers and compiles in 6 s (sm_90, measured with the static check's compiler)."""
    return 4 if N <= 16 else 2 if N <= 32 else 1


def plan_scan(batch: int, dim: int, L: int, N: int, device: torch.device,
              scheme: str = "auto", seg_len: int | None = None, directions: int = 1,
              dt_rank: int = 0) -> ScanPlan:
    """Pick the scheme and block sizes for one shape.

    The direct scheme does N exponentials per (b, d, t), the chunked one 2N but runs
    segments in parallel; direct wins once there are enough (batch, channel-block)
    programs to keep every SM sub-partition busy, which is what the threshold measures.
    """
    if scheme not in ("auto", "direct", "chunked"):
        raise ValueError(f"scheme must be 'auto', 'direct' or 'chunked', got {scheme!r}")
    n_sm = 4 if device.type != "cuda" else _sm_count(device.index or 0)
    # Measured on H100 (NOTES.md).  Direct: one channel a thread while warps are scarce
    # (latency hiding), two once there are plenty (the B_t/C_t loads then serve both).
    warps_1ch = batch * cdiv(dim, 32)
    sub_partitions = 4 * n_sm
    if scheme == "auto":
        scheme = "direct" if warps_1ch >= sub_partitions or L <= 64 else "chunked"
    if scheme == "direct":
        # one channel a thread, two warps a program.  The bidirectional kernel is capped at
        # 168 registers so 12 warps fit an SM and Vim-Ti's 1536 warps at batch 128 run in
        # one wave: 4.518 ms vs 4.578 uncapped (H100, Vim-Ti 1248 b128 bf16, bidirdt).  One
        # direction runs faster uncapped since its time strides are constexprs: 2.043 vs
        # 2.315 ms, and 2.135 at BD 32 with 1 warp (same call, reports/kernels/strides-h100).
        # Earlier (H200, capped, runtime strides): 2.31 ms vs 2.48 (BD 32, 1 warp), 2.92
        # (BD 64, 1 warp: two channels a thread) and 4.43 (BD 128, 4 warps).
        T = _steps_per_group(N)
        cap = 168 if N <= 16 and directions == 2 else None
        return ScanPlan("direct", 64, 2, T, max(L, 1), max_registers=cap)
    # T = 4: T = 8 measured ~15% faster at batch 1 in the v1 sweep, but its unrolled
    # bodies take ptxas 35-70 s per kernel variant (vs ~8 s), paid on the first call.
    # With a low-rank delta (dt_rank > 0) the chunked pass 2 at T = 4 needs 245 registers
    # (no cap at one warp a program) and ptxas 116 s; T = 2 fits in 168 and compiles in
    # ~25 s (sm_90, Vim-Ti, measured with the static check's compiler)
    T = _steps_per_group(N)
    if dt_rank > 0:
        T = max(1, T // 2)
    if seg_len is None:
        # short segments: a pass costs about seg_len sequential steps per program
        seg_len = 32 if L >= 2048 else 64
    seg_len = max(T, cdiv(seg_len, T) * T)
    seg_len = max(seg_len, cdiv(L, MAX_SEGMENTS))
    return ScanPlan("chunked", 32, 1, T, seg_len)


# ---------------------------------------------------------------- input validation

def _check_tensor(name, x, shape, dtypes, device):
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.shape != shape:  # torch.Size compares with a tuple directly
        raise ValueError(f"{name} must have shape {tuple(shape)}, got {tuple(x.shape)}")
    if x.dtype not in dtypes:
        allowed = ", ".join(str(d).replace("torch.", "") for d in dtypes)
        raise ValueError(f"{name} has dtype {x.dtype}; allowed: {allowed}")
    if x.device != device:
        raise ValueError(f"{name} is on {x.device} but u is on {device}; all inputs must share a device")


def _check_common(u, delta, A, B, C, D, z, delta_bias, suffix="", delta_proj_weight=None):
    if not isinstance(u, torch.Tensor) or u.dim() != 3:
        raise ValueError(f"u{suffix} must be a 3-d tensor (batch, dim, L), got "
                         f"{getattr(u, 'shape', type(u).__name__)}")
    if u.dtype not in _IO_DTYPES:
        raise ValueError(f"u{suffix} has dtype {u.dtype}; allowed: float32, float16, bfloat16")
    device = u.device
    if device.type != "cuda" and not _interpreting():
        raise ValueError(f"u{suffix} is on {device}: the Triton scan needs CUDA tensors "
                         "(or TRITON_INTERPRET=1 set before importing mamba_triton's kernels, for the CPU interpreter)")
    batch, dim, L = u.shape
    if not isinstance(A, torch.Tensor) or A.dim() != 2 or A.shape[0] != dim:
        raise ValueError(f"A{suffix} must have shape (dim={dim}, N), got {getattr(A, 'shape', None)}")
    N = A.shape[1]
    if not 1 <= N <= MAX_N:
        raise ValueError(f"A{suffix} has N={N} states; supported: 1..{MAX_N}")
    _check_tensor(f"A{suffix}", A, (dim, N), (torch.float32,), device)
    floats = (torch.float32, torch.float16, torch.bfloat16, torch.float64)
    if delta_proj_weight is None:
        _check_tensor(f"delta{suffix}", delta, (batch, dim, L), (u.dtype,), device)
    else:
        W = delta_proj_weight
        if not isinstance(W, torch.Tensor) or W.dim() != 2 or W.shape[0] != dim:
            raise ValueError(f"delta_proj_weight{suffix} must have shape (dim={dim}, R), got "
                             f"{getattr(W, 'shape', type(W).__name__)}")
        if not 1 <= W.shape[1] <= MAX_DT_RANK:
            raise ValueError(f"delta_proj_weight{suffix} has rank R={W.shape[1]}; supported: 1..{MAX_DT_RANK}")
        _check_tensor(f"delta_proj_weight{suffix}", W, (dim, W.shape[1]), floats, device)
        _check_tensor(f"delta{suffix} (dt_low, as delta_proj_weight{suffix} is given)", delta,
                      (batch, W.shape[1], L), (u.dtype,), device)
    _check_tensor(f"B{suffix}", B, (batch, N, L), _IO_DTYPES, device)
    _check_tensor(f"C{suffix}", C, (batch, N, L), _IO_DTYPES, device)
    if D is not None:
        _check_tensor(f"D{suffix}", D, (dim,), floats, device)
    if delta_bias is not None:
        _check_tensor(f"delta_bias{suffix}", delta_bias, (dim,), floats, device)
    if z is not None:
        _check_tensor("z", z, (batch, dim, L), (u.dtype,), device)
    return batch, dim, L, N


def _check_no_grad(*tensors):
    if torch.is_grad_enabled() and any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors):
        raise ValueError("the Triton selective scan is inference-only (no backward pass): call it under "
                         "torch.no_grad() or torch.inference_mode(), or detach the inputs; for training use "
                         "selective_scan_train_fn / bidirectional_scan_train_fn")


def _empty_like_layout(u: torch.Tensor) -> torch.Tensor:
    """An output of u's shape and dtype, laid out like u: (batch, L, dim)-contiguous when the
    channel dim of u is the dense one (the Linear-layer layout), else (batch, dim, L)."""
    batch, dim, L = u.shape
    if u.stride(1) <= u.stride(2) and dim > 1:
        return torch.empty(batch, L, dim, dtype=u.dtype, device=u.device).transpose(1, 2)
    return torch.empty(batch, dim, L, dtype=u.dtype, device=u.device)


def _tile_flags(N: int, T: int, dt_rank: int = 0) -> dict:
    """B/C (and a low-rank dt_low, DT_RANK > 0) are read as [T, NP] tiles (NP: N rounded up
    to a power of two) and split into scalars in log2(T * NP) rounds (see
    triton_kernels._scalars)."""
    NP = next_power_of_2(N)
    RP = next_power_of_2(max(dt_rank, 1))
    return dict(N=N, NP=NP, LOG_TNP=(T * NP).bit_length() - 1,
                DT_RANK=dt_rank, RP=RP, LOG_TRP=(T * RP).bit_length() - 1)


def _weight_args(W, placeholder):
    """(pointer, stride over channels, stride over r) of a delta_proj_weight, as fp32."""
    if W is None:
        return placeholder, 0, 0
    W = _fp32_or_none(W)
    return W, W.stride(0), W.stride(1)


def _launch_options(plan: ScanPlan, probe: torch.Tensor) -> dict:
    options = dict(num_warps=plan.num_warps)
    # inductor's launches of a user kernel take num_warps/num_stages/num_ctas, not maxnreg:
    # compiled code runs the kernel uncapped (1.3% slower at Vim-Ti 1248 b128, see plan_scan)
    if plan.max_registers is not None and not _interpreting() and not traced(probe):
        options["maxnreg"] = plan.max_registers
    return options


def _fp32_or_none(x):
    # the dtype test in Python: a no-op .to() still costs a dispatch, and at 224 px the
    # eager model is host-bound (benchmarks/host_ops_per_block.py)
    return x if x is None or x.dtype == torch.float32 else x.to(torch.float32)


def _strides3(x):
    return (x.stride(0), x.stride(1), x.stride(2))


# ---------------------------------------------------------------- public functions

def selective_scan_fn(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                      return_last_state=False, reverse=False, *, delta_proj_weight=None,
                      scheme="auto", seg_len=None, plan: ScanPlan | None = None):
    """Selective scan with mamba_ssm's `selective_scan_fn` semantics (see reference.py),
    plus `reverse=True` to scan from t = L-1 down to 0, and `delta_proj_weight` (dim, R)
    to pass delta as its low-rank factor dt_low (batch, R, L).  Returns `out` or
    `(out, last_state)` with last_state (batch, dim, N) fp32.  `scheme` / `seg_len`
    override the per-shape plan (tests use them to force the chunked path); `plan`
    replaces it entirely (the benchmark's tuning sweep)."""
    batch, dim, L, N = _check_common(u, delta, A, B, C, D, z, delta_bias, delta_proj_weight=delta_proj_weight)
    _check_no_grad(u, delta, A, B, C, D, z, delta_bias, delta_proj_weight)
    out = _empty_like_layout(u)
    dt_rank = 0 if delta_proj_weight is None else delta_proj_weight.shape[1]
    plan = plan or plan_scan(batch, dim, L, N, u.device, scheme, seg_len, dt_rank=dt_rank)
    n_seg = plan.n_seg(L)
    state = torch.empty(batch, 1, n_seg + 1, N, dim, dtype=torch.float32, device=u.device)
    D = _fp32_or_none(D)
    delta_bias = _fp32_or_none(delta_bias)
    if L == 0 or batch == 0 or dim == 0:
        state.zero_()
        return (out, state[:, 0, 0, :N].transpose(1, 2).contiguous()) if return_last_state else out
    dtsum = torch.empty(batch, 1, n_seg, dim, dtype=torch.float32, device=u.device)
    zz = z if z is not None else u
    W, s_Wd, s_Wr = _weight_args(delta_proj_weight, A)
    args = (u, delta, A, B, C, D if D is not None else A, delta_bias if delta_bias is not None else A,
            W, zz, out, state, dtsum, L, dim, plan.seg_len, n_seg,
            *_strides3(u), *_strides3(delta), A.stride(0), A.stride(1),
            *_strides3(B), *_strides3(C), s_Wd, s_Wr, *_strides3(zz), *_strides3(out))
    flags = dict(REVERSE=bool(reverse), HAS_D=D is not None, HAS_BIAS=delta_bias is not None,
                 SOFTPLUS=bool(delta_softplus), BLOCK_D=plan.block_d, EVEN_D=dim % plan.block_d == 0,
                 **_tile_flags(N, plan.steps_per_group, dt_rank),
                 T=plan.steps_per_group, FAST_EXP=not _interpreting(), POLY_EXP=plan.poly_exp_states,
                 **_launch_options(plan, u))
    grid_d = cdiv(dim, plan.block_d)
    if plan.scheme == "direct":
        launchable(K._selective_scan_kernel, u)[(grid_d, batch, 1)](
            *args, PASS=0, HAS_Z=z is not None, Y_MODE=1, STORE_FINAL=bool(return_last_state), **flags)
    else:
        launchable(K._selective_scan_kernel, u)[(grid_d, batch, n_seg)](
            *args, PASS=1, HAS_Z=False, Y_MODE=0, STORE_FINAL=False, **flags)
        _carry(state, dtsum, A, A, dim, N, n_seg, ndir=1, reverse=bool(reverse))
        launchable(K._selective_scan_kernel, u)[(grid_d, batch, n_seg)](
            *args, PASS=2, HAS_Z=z is not None, Y_MODE=1, STORE_FINAL=False, **flags)
    if not return_last_state:
        return out
    final_slot = 0 if reverse else n_seg
    return out, state[:, 0, final_slot, :N].transpose(1, 2).contiguous()


def bidirectional_scan_fn(u, delta, A, B, C, D, delta_bias,
                          u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b,
                          z, delta_softplus=True, *, delta_proj_weight=None, delta_proj_weight_b=None,
                          out=None, scheme="auto", seg_len=None, plan: ScanPlan | None = None):
    """The Vim v2 scan pair `(y_fwd + y_bwd) / 2 * silu(z)` in one pass over memory (same
    semantics as `reference.bidirectional_scan_ref`).  The backward direction (suffix
    `_b`) takes its tensors in the original token order and scans t = L-1..0; nothing is
    flipped and no ungated output is written.  D / delta_bias (either direction) may be
    None.  With delta_proj_weight / delta_proj_weight_b (both or neither), delta and
    delta_b are the low-rank dt_low factors (batch, R, L).  Output in u's dtype and layout,
    or written into `out` (batch, dim, L), any strides, e.g. a buffer whose contents are no
    longer needed (it must not overlap an input)."""
    batch, dim, L, N = _check_common(u, delta, A, B, C, D, z, delta_bias, delta_proj_weight=delta_proj_weight)
    if z is None:
        raise ValueError("z is required: the bidirectional scan fuses the silu(z) gate")
    if (delta_proj_weight is None) != (delta_proj_weight_b is None):
        raise ValueError("delta_proj_weight and delta_proj_weight_b must be given for both directions or neither")
    _check_common(u_b, delta_b, A_b, B_b, C_b, D_b, None, delta_bias_b, suffix="_b",
                  delta_proj_weight=delta_proj_weight_b)  # validates delta_proj_weight_b itself
    if delta_proj_weight is not None and delta_proj_weight_b.shape != delta_proj_weight.shape:
        raise ValueError(f"delta_proj_weight_b must have the shape of delta_proj_weight "
                         f"{tuple(delta_proj_weight.shape)}, got {tuple(delta_proj_weight_b.shape)}")
    if tuple(u_b.shape) != tuple(u.shape) or u_b.dtype != u.dtype or u_b.device != u.device:
        raise ValueError(f"u_b must match u in shape, dtype and device: u {tuple(u.shape)} {u.dtype} "
                         f"{u.device}, u_b {tuple(u_b.shape)} {u_b.dtype} {u_b.device}")
    if A_b.shape[1] != N:
        raise ValueError(f"A_b has N={A_b.shape[1]} states but A has N={N}; both directions need the same N")
    if (D is None) != (D_b is None) or (delta_bias is None) != (delta_bias_b is None):
        raise ValueError("D/D_b and delta_bias/delta_bias_b must be given for both directions or neither")
    _check_no_grad(u, delta, A, B, C, D, delta_bias, u_b, delta_b, A_b, B_b, C_b, D_b, delta_bias_b, z,
                   delta_proj_weight, delta_proj_weight_b)
    if out is None:
        out = _empty_like_layout(u)
    else:
        _check_tensor("out", out, (batch, dim, L), (u.dtype,), u.device)
    if L == 0 or batch == 0 or dim == 0:
        return out
    dt_rank = 0 if delta_proj_weight is None else delta_proj_weight.shape[1]
    plan = plan or plan_scan(batch, dim, L, N, u.device, scheme, seg_len, directions=2, dt_rank=dt_rank)
    n_seg = plan.n_seg(L)
    if plan.scheme == "direct" and A.dtype == torch.float32:
        state = dtsum = A  # the direct scheme neither reads nor writes them: no allocation
    else:
        state = torch.empty(batch, 2, n_seg + 1, N, dim, dtype=torch.float32, device=u.device)
        dtsum = torch.empty(batch, 2, n_seg, dim, dtype=torch.float32, device=u.device)
    D, D_b = _fp32_or_none(D), _fp32_or_none(D_b)
    delta_bias, delta_bias_b = _fp32_or_none(delta_bias), _fp32_or_none(delta_bias_b)
    W, s_Wd, s_Wr = _weight_args(delta_proj_weight, A)
    W1, s_W1d, s_W1r = _weight_args(delta_proj_weight_b, A)
    args = (u, delta, A, B, C, D if D is not None else A, delta_bias if delta_bias is not None else A, W,
            u_b, delta_b, A_b, B_b, C_b, D_b if D_b is not None else A,
            delta_bias_b if delta_bias_b is not None else A, W1,
            z, out, state, dtsum, L, dim, plan.seg_len, n_seg,
            *_strides3(u), *_strides3(delta), A.stride(0), A.stride(1), *_strides3(B), *_strides3(C),
            s_Wd, s_Wr,
            *_strides3(u_b), *_strides3(delta_b), A_b.stride(0), A_b.stride(1),
            *_strides3(B_b), *_strides3(C_b), s_W1d, s_W1r, *_strides3(z), *_strides3(out))
    flags = dict(HAS_D=D is not None, HAS_BIAS=delta_bias is not None, SOFTPLUS=bool(delta_softplus),
                 BLOCK_D=plan.block_d, T=plan.steps_per_group, FAST_EXP=not _interpreting(),
                 POLY_EXP=plan.poly_exp_states,
                 EVEN_D=dim % plan.block_d == 0, **_tile_flags(N, plan.steps_per_group, dt_rank),
                 **_launch_options(plan, u))
    grid_d = cdiv(dim, plan.block_d)
    if plan.scheme == "direct":
        launchable(K._bidirectional_scan_kernel, u)[(grid_d, batch, 1)](*args, PASS=0, **flags)
    else:
        launchable(K._bidirectional_scan_kernel, u)[(grid_d, batch, 2 * n_seg)](*args, PASS=1, **flags)
        _carry(state, dtsum, A, A_b, dim, N, n_seg, ndir=2, reverse=False)
        launchable(K._bidirectional_scan_kernel, u)[(grid_d, batch, n_seg)](*args, PASS=2, **flags)
    return out


def _carry(state, dtsum, A, A1, dim, N, n_seg, ndir, reverse):
    batch = state.shape[0]
    nseg_p = max(2, next_power_of_2(n_seg))
    block_f = 32
    warps = max(1, min(8, nseg_p // 32))  # keeps the [segments, 32] tile at <= 32 values a thread
    grid = (cdiv(N * dim, block_f), batch * ndir)
    launchable(K._carry_kernel, state)[grid](state, dtsum, A, A1, dim, N, n_seg,
                          A.stride(0), A.stride(1), A1.stride(0), A1.stride(1),
                          NDIR=ndir, REVERSE=reverse, BLOCK_F=block_f, NSEG_P=nseg_p, num_warps=warps)
