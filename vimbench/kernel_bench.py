"""`vimbench kernels`: the command-line front-end of the kernel library's own benchmark,
`python -m mamba_triton.bench` (same options, same table; the commit recorded is the
harness's, which honours VIMBENCH_GIT_COMMIT where the checkout has no usable .git)."""

from __future__ import annotations

import sys

from mamba_triton.bench import add_arguments  # noqa: F401  (the CLI's interface: add_arguments, main)


def main(args) -> int:
    from mamba_triton import bench

    from vimbench.env import git_commit

    sha, dirty = git_commit()
    commit = None if sha is None else sha[:7] + ("-dirty" if dirty else "")
    return bench.main(args, prog="vimbench kernels", command=" ".join(["vimbench", *sys.argv[1:]]), commit=commit)
