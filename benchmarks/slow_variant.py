"""Make a deliberately slowed copy of the source tree, to show that the gates catch it.

    python benchmarks/slow_variant.py DEST [--block-d-factor 0.5] [--steps-per-group N]

Copies vimbench/, kernels/, suites/, tests/ and pyproject.toml to DEST and wraps the scan's `plan_scan` there so every
plan gets a smaller channel block (BLOCK_D halved by default) - the kind of "harmless tuning
change" a regression gate exists for.  Nothing in this checkout is modified.
"""

import argparse
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

WRAPPER = """

# ---- appended by benchmarks/slow_variant.py: a deliberately slowed variant ----
import dataclasses as _dataclasses

_unslowed_plan_scan = plan_scan


def plan_scan(*args, **kwargs):
    plan = _unslowed_plan_scan(*args, **kwargs)
    return _dataclasses.replace(plan, {changes})
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dest", type=Path)
    parser.add_argument("--block-d-factor", type=float, default=0.5)
    parser.add_argument("--steps-per-group", type=int, default=None)
    parser.add_argument("--copy-only", action="store_true", help="an unchanged copy (the A/B control)")
    args = parser.parse_args()
    if args.dest.exists():
        shutil.rmtree(args.dest)
    for folder in ("vimbench", "kernels", "suites", "tests"):
        shutil.copytree(REPO / folder, args.dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "pyproject.toml", args.dest / "pyproject.toml")  # pytest markers and options
    if args.copy_only:
        print(f"unchanged copy in {args.dest}")
        return
    changes = [f"block_d=max(16, int(plan.block_d * {args.block_d_factor}))"]
    if args.steps_per_group:
        changes.append(f"steps_per_group={args.steps_per_group}")
    fused = args.dest / "kernels" / "mamba_triton" / "selective_scan" / "fused.py"
    fused.write_text(fused.read_text() + WRAPPER.format(changes=", ".join(changes)))
    print(f"slowed variant in {args.dest}: plan_scan(...) -> replace(plan, {', '.join(changes)})")


if __name__ == "__main__":
    main()
