"""Small Triton kernels for the static-check tests (compiled for sm_90, never run).

`toy_scan` has the shape of a selective scan: a loop over time, per step one exp2 per
(channel, state) element, loads of a bf16 row, a reduction over the state and a store.
"""

import triton
import triton.language as tl

from vimbench.staticcheck import KernelConfig, Pointer


@triton.jit
def toy_scan(x_ptr, a_ptr, y_ptr, L, stride_t, BLOCK_D: tl.constexpr, N: tl.constexpr):
    offs_d = tl.program_id(0) * BLOCK_D + tl.arange(0, BLOCK_D)  # [BLOCK_D]
    a = tl.load(a_ptr + offs_d[:, None] * N + tl.arange(0, N)[None, :])  # [BLOCK_D, N]
    h = tl.zeros((BLOCK_D, N), dtype=tl.float32)
    for t in range(L):
        x = tl.load(x_ptr + t * stride_t + offs_d).to(tl.float32)
        h = tl.exp2(x[:, None] * a) * h + x[:, None]
        y = tl.sum(h, axis=1)
        tl.store(y_ptr + t * stride_t + offs_d, y.to(y_ptr.dtype.element_ty))


def _scan(block_d, num_warps=4, name="toy_scan/bench", maxnreg=None):
    return KernelConfig(
        name=name,
        kernel=toy_scan,
        args={
            "x_ptr": Pointer("bf16"),
            "a_ptr": Pointer("fp32"),
            "y_ptr": Pointer("bf16"),
            "L": 197,
            "stride_t": 384,
        },
        constexprs={"BLOCK_D": block_d, "N": 16},
        num_warps=num_warps,
        elements_per_iteration=block_d * 16,
        maxnreg=maxnreg,
    )


STATIC_CONFIGS = [_scan(64)]
# the same benchmark shape after a "tuning" change that picked a smaller channel block
SLOWED_CONFIGS = [_scan(16)]
# the same again under a register cap too low for its live state: ptxas must spill
SPILL_CONFIGS = [_scan(64, maxnreg=24)]
