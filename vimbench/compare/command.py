"""`vimbench compare BASELINE CANDIDATE`: the performance regression gate.

Exit codes: 0 no regression, 1 at least one regression (slower than the threshold AND
outside the noise), 2 usage error (unreadable file, nothing in common, different cards
without --force, bad argument).

With --ab, BASELINE and CANDIDATE are git revisions (or source directories) whose scan
kernels are benchmarked here and now, interleaved A B A B ..., and then compared.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from pathlib import Path

EXIT_PASS = 0
EXIT_REGRESSION = 1
EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input: reported on stderr, exit code 2."""


def parse_threshold(text: str) -> float:
    """'5%' -> 0.05, '0.05' -> 0.05.  A bare number >= 1 is ambiguous and refused."""
    raw = text.strip()
    try:
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"--threshold {text!r}: write a percentage like '5%' or a fraction like 0.05"
        ) from None
    if not raw.endswith("%") and value >= 1:
        raise argparse.ArgumentTypeError(
            f"--threshold {text!r} is ambiguous; write '{raw}%' or a fraction below 1"
        )
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"--threshold {text!r} must lie in [0%, 100%)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "baseline",
        help="baseline: vimbench run dir / results.jsonl / pytest-benchmark JSON "
        "(with --ab: a git revision or a source directory)",
    )
    parser.add_argument("candidate", help="candidate, same kinds as baseline")
    parser.add_argument(
        "--threshold",
        type=parse_threshold,
        default=0.05,
        metavar="PCT",
        help="slowdown of the median that counts as a regression (default 5%%)",
    )
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.01,
        help="significance level of the one-sided Mann-Whitney test (default 0.01)",
    )
    parser.add_argument(
        "--force", action="store_true", help="compare results measured on different GPUs (refused by default)"
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="GLOB",
        help="compare only benchmark keys matching this glob (repeatable)",
    )
    parser.add_argument("--format", choices=("text", "markdown"), default="text", help="table format")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the verdicts as JSON here")
    ab = parser.add_argument_group("A/B mode (interleaved, one session)")
    ab.add_argument(
        "--ab",
        action="store_true",
        help="benchmark two revisions' scan kernels now, interleaved, then compare",
    )
    ab.add_argument(
        "--rounds", type=int, default=10, help="A/B rounds; each runs every case on A then B (default 10)"
    )
    ab.add_argument("--iters", type=int, default=10, help="timed launches per case per round (default 10)")
    ab.add_argument(
        "--cases",
        default=None,
        help="comma-separated A/B case names (default: all; see vimbench/compare/ab_worker.py)",
    )
    ab.add_argument(
        "--save-dir",
        type=Path,
        default=None,
        help="write the A/B samples here as baseline.json / candidate.json (pytest-benchmark format)",
    )
    ab.add_argument(
        "--ab-cases-file",
        type=Path,
        default=None,
        help="module file defining AB_CASES and ab_callable(name, device) "
        "(default: the kernel library's mamba_triton/shapes.py, the scan kernels)",
    )
    ab.add_argument("--ab-device", default="cuda", help="device the A/B workers time on (default cuda)")


def main(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except UsageError as exc:
        print(f"vimbench compare: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from vimbench.compare.sources import SourceError, load
    from vimbench.compare.table import render_markdown, render_text
    from vimbench.compare.verdict import REGRESSION, card_mismatches, compare_sets, unknown_cards

    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha} must lie in (0, 1)")
    if args.ab:
        from vimbench.compare.ab import DEFAULT_CASES_FILE, ABError, run_ab

        try:
            baseline_path, candidate_path = run_ab(
                args.baseline,
                args.candidate,
                rounds=args.rounds,
                iters=args.iters,
                cases=args.cases,
                save_dir=args.save_dir,
                cases_file=args.ab_cases_file or DEFAULT_CASES_FILE,
                device=args.ab_device,
            )
        except ABError as exc:
            raise UsageError(str(exc)) from exc
    else:
        baseline_path, candidate_path = args.baseline, args.candidate
    try:
        baseline, candidate = load(baseline_path), load(candidate_path)
    except SourceError as exc:
        raise UsageError(str(exc)) from exc
    if args.only:
        for result in (baseline, candidate):
            result.benchmarks = {
                k: b
                for k, b in result.benchmarks.items()
                if any(fnmatch.fnmatchcase(k, g) for g in args.only)
            }
    common = baseline.benchmarks.keys() & candidate.benchmarks.keys()
    if not common:
        raise UsageError(
            f"no benchmark appears in both {baseline.path} ({len(baseline.benchmarks)} benchmarks) "
            f"and {candidate.path} ({len(candidate.benchmarks)}); check the files and --only"
        )

    mismatches = card_mismatches(baseline, candidate)
    if mismatches:
        pairs = sorted({(m.baseline_card, m.candidate_card) for m in mismatches})
        described = "; ".join(f"baseline on {b!r}, candidate on {c!r}" for b, c in pairs)
        if not args.force:
            raise UsageError(
                f"refusing to compare timings from different GPUs ({described}; "
                f"{len(mismatches)} benchmarks). Pass --force to compare anyway."
            )
        print(
            f"WARNING: --force: comparing timings from different GPUs ({described}); "
            "ratios mix the kernel change with the hardware change."
        )
    unknown = unknown_cards(baseline, candidate)
    if unknown:
        print(
            f"WARNING: {len(unknown)} benchmarks do not record their GPU on one side; "
            "cannot check that both ran on the same card."
        )

    comparisons = compare_sets(baseline, candidate, args.threshold, args.alpha)
    for result in (baseline, candidate):
        print(
            f"{_side_name(result, baseline)}: {result.path} [{result.kind}] "
            f"on {', '.join(sorted(result.cards)) or 'unknown GPU'}"
        )
        for note in result.notes:
            print(f"  note: {note}")
        for key, why in result.skipped.items():
            print(f"  not timed: {key} ({why})")
    print(
        f"gate: regression = median slower by > {args.threshold:.1%} AND one-sided Mann-Whitney "
        f"p < {args.alpha:g} (IQR overlap when raw samples are missing)"
    )
    print()
    print(render_markdown(comparisons) if args.format == "markdown" else render_text(comparisons))
    print()
    regressions = [c for c in comparisons if c.verdict == REGRESSION]
    counts: dict[str, int] = {}
    for c in comparisons:
        counts[c.verdict] = counts.get(c.verdict, 0) + 1
    print("summary: " + ", ".join(f"{n} {verdict}" for verdict, n in counts.items()))
    if args.json:
        _write_json(args.json, comparisons, args.threshold, args.alpha)
    if regressions:
        print(f"FAIL: {len(regressions)} regression(s): " + ", ".join(c.key for c in regressions))
        return EXIT_REGRESSION
    print("PASS: no regression")
    return EXIT_PASS


def _side_name(result, baseline) -> str:
    return "baseline " if result is baseline else "candidate"


def _write_json(path: Path, comparisons, threshold: float, alpha: float) -> None:
    payload = {
        "threshold": threshold,
        "alpha": alpha,
        "comparisons": [
            {
                "key": c.key,
                "baseline_median_ms": c.baseline.median_ms if c.baseline else None,
                "candidate_median_ms": c.candidate.median_ms if c.candidate else None,
                "ratio": c.ratio,
                "test": c.test,
                "p_slower": c.p_slower,
                "verdict": c.verdict,
                "baseline_card": c.baseline.card if c.baseline else None,
                "candidate_card": c.candidate.card if c.candidate else None,
            }
            for c in comparisons
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
