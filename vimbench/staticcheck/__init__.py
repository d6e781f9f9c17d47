"""Static kernel checks for CPU CI: compile Triton kernels for sm_90 without a GPU, read
registers, spills, shared memory and the SASS instruction mix, and compare with a baseline.

    python -m vimbench.staticcheck                  # check against reports/static/sm90.json
    python -m vimbench.staticcheck --record         # (re)write that baseline
"""

from vimbench.staticcheck.spec import KernelConfig, Pointer

__all__ = ["KernelConfig", "Pointer"]
