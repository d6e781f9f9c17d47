"""Per-card baselines: `reports/baselines/<card>/bench.json` plus a README with the command.

python -m vimbench.compare.baseline record bench.json --command "pytest ... --benchmark-json=bench.json"
python -m vimbench.compare.baseline path     # this card's baseline file (for scripts)
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
import sys
from pathlib import Path

from vimbench.compare.cards import BASELINES_DIR, card_slug, current_card
from vimbench.compare.sources import load

BASELINE_FILE = "bench.json"


def baseline_path(gpu_name: str, root: str | Path = BASELINES_DIR) -> Path:
    return Path(root) / card_slug(gpu_name) / BASELINE_FILE


def record(
    bench_json: Path, command: str, root: str | Path = BASELINES_DIR, commit: str | None = None
) -> Path:
    """Copy a pytest-benchmark JSON into its card's folder and describe how it was made."""
    result = load(bench_json)
    cards = result.cards
    if len(cards) != 1:
        raise ValueError(f"{bench_json}: a baseline needs exactly one card, found {sorted(cards) or 'none'}")
    card = cards.pop()
    target = baseline_path(card, root)
    target.parent.mkdir(parents=True, exist_ok=True)
    if Path(bench_json).resolve() != target.resolve():
        shutil.copyfile(bench_json, target)
    document = json.loads(Path(bench_json).read_text())
    machine = document.get("machine_info", {})
    commit = commit or (document.get("commit_info") or {}).get("id")
    lines = [
        f"# Baseline: {card}",
        "",
        f"Recorded {datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds')} "
        f"from commit {commit or 'unknown'}; torch {machine.get('torch_version', 'see the command')}, "
        f"triton {machine.get('triton_version', 'see the command')}.",
        "",
        "Made with:",
        "",
        "```",
        command,
        "```",
        "",
        f"Compare a new run with `vimbench compare {target} NEW.json --threshold 5%`.",
        "",
        "| benchmark | median ms | samples |",
        "|---|---|---|",
    ]
    for key, bench in result.benchmarks.items():
        lines.append(f"| `{key}` | {bench.median_ms:.4g} | {len(bench.samples_ms)} |")
    (target.parent / "README.md").write_text("\n".join(lines) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vimbench.compare.baseline", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="action", required=True)
    rec = sub.add_parser("record", help="store a pytest-benchmark JSON as its card's baseline")
    rec.add_argument("bench_json", type=Path)
    rec.add_argument("--command", required=True, help="the command that made the file (kept beside it)")
    rec.add_argument("--root", default=BASELINES_DIR)
    rec.add_argument("--commit", default=None, help="the commit measured (when the JSON lacks commit_info)")
    where = sub.add_parser("path", help="print this card's baseline path")
    where.add_argument("--root", default=BASELINES_DIR)
    args = parser.parse_args(argv)
    try:
        if args.action == "record":
            print(record(args.bench_json, args.command, args.root, args.commit))
        else:
            print(baseline_path(current_card(), args.root))
    except (ValueError, RuntimeError) as exc:
        print(f"baseline: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
