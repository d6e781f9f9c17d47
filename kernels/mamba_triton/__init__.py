"""mamba_triton: pure-Triton inference kernels for (Vision) Mamba, each beside its float64
reference: the selective scan (mamba_ssm's `selective_scan_fn`, plus `reverse` and the
flip-free bidirectional op), causal_conv1d's `causal_conv1d_fn`, and fused add + RMSNorm.
All three come differentiable too, with Triton backward kernels: `selective_scan_train_fn`,
`bidirectional_scan_train_fn`, `causal_conv1d_autograd`, `bidirectional_conv1d_autograd` and
`add_rmsnorm_autograd`
(torch.autograd.Function wrappers; `backward.py` in each folder).

One folder per op (`selective_scan/`, `causal_conv1d/`, `add_rmsnorm/`), each reading
`reference.py` -> kernel -> public function.  Beside them: `shapes.py` (the benchmark
shapes), `ceilings.py` (copy bandwidth and exp2 rate of the card), `bench.py`
(`python -m mamba_triton.bench`) and `testing.py` (the closeness rule the tests use).
`ops.py` registers the forward kernels as torch.library custom ops (`torch.ops.mamba_triton.*`)
with shape-only fake implementations, so torch.compile treats each call as one node;
`mamba_triton.ops.bidirectional_scan` / `add_rmsnorm` / ... call them with the public
functions' signatures.

Triton reads TRITON_INTERPRET (1: the CPU interpreter) when a kernel is defined, i.e. when
this package is imported: set it before.
"""

from . import ops
from .add_rmsnorm import add_rmsnorm, add_rmsnorm_autograd, add_rmsnorm_ref
from .causal_conv1d import (
    bidirectional_conv1d,
    bidirectional_conv1d_autograd,
    bidirectional_conv1d_ref,
    causal_conv1d_autograd,
    causal_conv1d_fn,
    causal_conv1d_fn_ref,
)
from .selective_scan import (
    bidirectional_scan_fn,
    bidirectional_scan_ref,
    bidirectional_scan_train_fn,
    selective_scan_fn,
    selective_scan_ref,
    selective_scan_train_fn,
)

__version__ = "0.1.0"

__all__ = [
    "ops",
    "selective_scan_fn",
    "bidirectional_scan_fn",
    "selective_scan_train_fn",
    "bidirectional_scan_train_fn",
    "causal_conv1d_fn",
    "bidirectional_conv1d",
    "add_rmsnorm",
    "causal_conv1d_autograd",
    "bidirectional_conv1d_autograd",
    "add_rmsnorm_autograd",
    "selective_scan_ref",
    "bidirectional_scan_ref",
    "causal_conv1d_fn_ref",
    "bidirectional_conv1d_ref",
    "add_rmsnorm_ref",
]
