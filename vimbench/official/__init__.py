"""The paper's own kernels: mamba_ssm's selective scan and causal_conv1d's conv, compiled.

Neither package is a dependency of vimbench.  Both ship as source only and need nvcc, so
`python -m vimbench.official.build` compiles the forward kernels for the card at hand
(build.py) into a directory that `load_official_ops()` (ops.py) finds by itself.  The Vim
variant "official" (vimbench/models/vim_official.py) runs the official Vim forward on them.
"""

from .ops import OFFICIAL_BUILD_COMMAND, OfficialOps, load_official_ops

__all__ = ["OFFICIAL_BUILD_COMMAND", "OfficialOps", "load_official_ops"]
