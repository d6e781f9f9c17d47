"""`vimbench report RUN_DIR... [--out DIR] [--memory-metric allocated|reserved|nvml]`.

With no RUN_DIR it reports the newest run under runs/ (the run directory whose
results.jsonl was written last).  The report goes to RUN_DIR/report/ for one run, and to
FIRST_RUN/report-vs-<other runs>/ for several (report-with-... with --combine), unless
--out says otherwise; the verdict table's key lines are printed on the console too.
--combine pools several runs of one card into one (a sweep split by model), so Vim/DeiT
ratios and the claims can use rows from all of them.

Several runs: each gets its own section (Vim/DeiT ratios are only taken inside one run:
one card, one session) and every later run is compared with the first, cell by cell;
runs that share no cell are an error.  OOM cells get a memory estimate when the run has
smaller-batch probe rows (suite option `estimate_oom_batches`; the harness measures them).
Problems with the inputs print one message and exit with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_BAD_INPUT = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.epilog = ("Several RUN_DIRs: one section per run plus a cell-by-cell comparison of each with the first. "
                     "OOM cells get an *estimated* memory need when the suite sets estimate_oom_batches "
                     "(e.g. [8, 16, 32]): the harness then measures smaller-batch probes and the report fits "
                     "memory = a + b x batch; its speed comes from its largest probe only where the two largest "
                     "probes are within 3% in images/s (labelled derived (probe batch N)). The verdict table "
                     "(report.md top, verdict_table.csv) pairs the paper's Vim and vimbench's fastest Vim with "
                     "DeiT-Ti eager and the fastest DeiT-Ti. Bad inputs exit with code 2.")
    parser.add_argument("runs", nargs="*", type=Path, metavar="RUN_DIR",
                        help="run directories (default: the newest under --runs-root); the first is the base "
                             "of the comparison when several are given")
    parser.add_argument("--out", type=Path, default=None,
                        help="report directory (default: RUN_DIR/report, or FIRST_RUN/report-vs-OTHERS)")
    parser.add_argument("--memory-metric", choices=["allocated", "reserved", "nvml"], default="allocated",
                        help="peak-memory metric for savings and the memory claim (default: allocated = "
                             "torch max_memory_allocated); the others are shown alongside")
    parser.add_argument("--combine", action="store_true",
                        help="treat the RUN_DIRs as one run (e.g. a sweep split by model on one card): pooled rows, "
                             "Vim/DeiT ratios across them; refused for runs on different cards")
    parser.add_argument("--runs-root", type=Path, default=Path("runs"),
                        help="where to look for the newest run when no RUN_DIR is given (default: runs)")


def default_out_dir(runs: list[Path], combine: bool = False) -> Path:
    if len(runs) == 1:
        return runs[0] / "report"
    joiner = "report-with-" if combine else "report-vs-"
    return runs[0] / (joiner + "-".join(p.resolve().name for p in runs[1:]))


def main(args: argparse.Namespace) -> int:
    from vimbench.report.build import NO_INFER, write_report
    from vimbench.report.load import ReportError, find_latest_run
    from vimbench.report.sections import verdict_text

    try:
        runs = list(args.runs) or [find_latest_run(args.runs_root)]
        out = args.out or default_out_dir(runs, args.combine)
        report, analyses = write_report(runs, out, metric=args.memory_metric, combine=args.combine,
                                        command=_command_line(args, runs, out))
    except ReportError as exc:
        print(f"vimbench report: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    for a in analyses:
        if len(analyses) > 1:
            print(f"run {a.run.label}:")
        print(verdict_text(a.verdicts, a.run.gpu_name, args.memory_metric) if a.has_infer else NO_INFER)
        print()
    print(f"wrote {report} (and CSVs, PNG and SVG plots beside it)")
    return 0


def _command_line(args: argparse.Namespace, runs: list[Path], out: Path) -> str:
    """The command that regenerates this report (paths as given, so it reads the same twice)."""
    parts = ["vimbench report", *(str(p) for p in runs)]
    if args.combine:
        parts.append("--combine")
    if args.memory_metric != "allocated":
        parts.append(f"--memory-metric {args.memory_metric}")
    if args.out:
        parts.append(f"--out {out}")
    return " ".join(parts)
