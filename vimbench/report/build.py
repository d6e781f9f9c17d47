"""Build a report directory from run directories: report.md, CSVs, PNG + SVG plots.

One run gives one report.  Several runs give one section per run (ratios are only taken
inside a run: one card, one session) plus a comparison of each later run against the first.
Rows of mode "train" (a training step per timed call) get a section of their own
(training.py); the verdict, claims, ratios and inference tables read "infer" rows only.
Nothing here reads a clock or the host, so the same inputs give byte-identical outputs.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from vimbench.modes import INFER
from vimbench.report import claims as claims_mod
from vimbench.report import plots, sections, training
from vimbench.report.compare import match_runs
from vimbench.report.estimate import estimate_oom_cells
from vimbench.report.fastest import fastest_rows
from vimbench.report.load import Run, combine_runs, load_runs, of_mode
from vimbench.report.names import GB, MEMORY_METRICS, file_safe, series_label
from vimbench.report.paper import PAPER_CITATION, load_paper_figure1
from vimbench.report.tables import at_condition, conditions, measured_cells, measured_rows, ratio_table
from vimbench.report.verdict import verdict_cells

REPORT_FILE = "report.md"
NO_INFER = ("No inference rows (mode infer) in this run: the claims are about inference, so there is no verdict; "
            "its training rows are in the training section.")


@dataclass
class Analysis:
    run: Run
    rows: object         # DataFrame of measure rows (repeats kept)
    cells: object        # DataFrame, one row per cell (median of repeats)
    estimates: object    # DataFrame from estimate_oom_cells
    ratios: object       # DataFrame from ratio_table
    claims: list
    verdicts: list       # verdict.VerdictCell, the table at the top of the report
    fastest: list        # fastest.FastestRow, Vim-Ti against the fastest DeiT-Ti at every resolution
    full_run: Run | None = None  # the run with its train rows too (`run` holds the infer rows only)

    @property
    def train(self):
        """The run's train rows (training.py), reported apart from everything above."""
        return training.train_frame((self.full_run or self.run).frame)

    @property
    def has_infer(self) -> bool:
        return not self.run.frame.empty


def analyse(run: Run, metric: str) -> Analysis:
    """The inference analysis of a run (its "infer" rows), with the whole run kept beside it."""
    full_run, run = run, of_mode(run, INFER)
    rows = measured_rows(run.frame)
    cells = measured_cells(run.frame)
    estimates = estimate_oom_cells(run.frame)
    ratios = ratio_table(cells, estimates)
    card_memory, _ = run.gpu_total_memory
    probes = run.frame[run.frame["purpose"] == "oom_estimate"]
    return Analysis(run, rows, cells, estimates, ratios,
                    claims_mod.claim_rows(ratios, card_memory, metric, probes),
                    verdict_cells(cells, probes, estimates, metric),
                    fastest_rows(cells, probes, estimates, metric), full_run)


def build_report(run_paths: list[Path], out_dir: Path, metric: str = "allocated", combine: bool = False,
                 command: str | None = None) -> Path:
    """Write the report for `run_paths` into `out_dir`; returns the path of report.md.

    combine: pool the runs into one (same card only) instead of reporting and comparing them.
    command: the command line that regenerates this report, printed at the top.
    """
    return write_report(run_paths, out_dir, metric, combine, command)[0]


def write_report(run_paths: list[Path], out_dir: Path, metric: str = "allocated", combine: bool = False,
                 command: str | None = None) -> tuple[Path, list[Analysis]]:
    """build_report, also returning each run's analysis (the command prints the verdict from them)."""
    runs = load_runs(run_paths)
    if combine:
        runs = [combine_runs(runs)]
    analyses = [analyse(run, metric) for run in runs]
    comparisons = [(runs[0], other, *match_runs(runs[0], other)) for other in runs[1:]]

    out_dir.mkdir(parents=True, exist_ok=True)
    _remove_previous_report(out_dir)
    paper = load_paper_figure1()
    multi = len(runs) > 1
    parts = [_title(runs)]
    if command:
        parts.append(f"Regenerate with `{command}` (from the repository root).")
    for a in analyses:
        parts.append(_verdict_heading(a.run.label if multi else None))
        parts.append(sections.verdict_md(a.verdicts, a.run.gpu_name, metric, paper) if a.has_infer else NO_INFER)
        if a.fastest:
            parts.append("## Vim-Ti against the fastest DeiT-Ti at every resolution"
                         + (f" (run {a.run.label})" if multi else ""))
            parts.append(sections.fastest_md(a.fastest, metric))
    parts.append(_reading_guide(metric))
    for c in comparisons:
        parts.append(sections.comparison_md(c, out_dir, metric, analyses))
    for a in analyses:
        prefix = f"{file_safe(a.run.label)}_" if multi else ""
        parts.append(_run_section(a, out_dir, prefix, metric, paper, level=3 if multi else 2, titled=multi))
    (out_dir / REPORT_FILE).write_text("\n\n".join(parts).rstrip() + "\n", encoding="utf-8")
    _write_csvs(out_dir, analyses, comparisons)
    return out_dir / REPORT_FILE, analyses


# ----------------------------------------------------------------------------- CSV outputs

def _write_csvs(out_dir: Path, analyses: list[Analysis], comparisons) -> None:
    import pandas as pd

    frames = [pd.concat([a.run.frame, a.train], ignore_index=True) for a in analyses]  # both modes
    combined = pd.concat(frames, ignore_index=True)
    for column in combined.columns:  # lists and dicts (samples, telemetry) as sorted JSON
        if combined[column].map(lambda v: isinstance(v, (list, dict))).any():
            combined[column] = combined[column].map(lambda v: json.dumps(v, sort_keys=True))
    combined.to_csv(out_dir / "results.csv", index=False, lineterminator="\n")
    pd.concat([a.ratios for a in analyses], ignore_index=True).to_csv(
        out_dir / "ratios.csv", index=False, lineterminator="\n")
    pd.concat([a.estimates for a in analyses], ignore_index=True).to_csv(
        out_dir / "oom_estimates.csv", index=False, lineterminator="\n")
    claim_frame = pd.DataFrame([{"run": a.run.label, **asdict(c)} for a in analyses for c in a.claims])
    claim_frame.to_csv(out_dir / "claims.csv", index=False, lineterminator="\n")
    verdict_frame = pd.DataFrame([{"run": a.run.label, **asdict(c)} for a in analyses for c in a.verdicts])
    verdict_frame.to_csv(out_dir / "verdict_table.csv", index=False, lineterminator="\n")
    fastest_frame = pd.DataFrame([{"run": a.run.label, **asdict(r)} for a in analyses for r in a.fastest])
    fastest_frame.to_csv(out_dir / "fastest_by_resolution.csv", index=False, lineterminator="\n")
    for base, other, matched, _, _ in comparisons:
        matched.to_csv(out_dir / f"compare_{file_safe(other.label)}_vs_{file_safe(base.label)}.csv", index=False,
                       lineterminator="\n")


def _remove_previous_report(out_dir: Path) -> None:
    """A re-generated report must not keep plots from an older one beside it."""
    if not (out_dir / REPORT_FILE).exists():
        return
    for path in sorted(out_dir.iterdir()):
        if path.is_file() and path.suffix in (".png", ".svg", ".csv", ".md"):
            path.unlink()


# ----------------------------------------------------------------------------- markdown sections

def _title(runs: list[Run]) -> str:
    if len(runs) == 1:
        run = runs[0]
        return f"# vimbench report: {run.label} ({run.suite_name or 'unknown suite'} on {run.gpu_name})"
    return "# vimbench report: " + " vs ".join(r.label for r in runs)


def _verdict_heading(run_label: str | None) -> str:
    title = (f"Verdict: Vim-Ti {claims_mod.SPEED_CLAIM:g}x faster, {100 * claims_mod.MEMORY_CLAIM:.1f}% less "
             f"memory than DeiT-Ti at {claims_mod.CLAIM_RESOLUTION} px?")
    return f"## {title}" + (f" (run {run_label})" if run_label else "")


def _reading_guide(metric: str) -> str:
    return "\n".join([
        "How to read this report:",
        "",
        ("- Every number is copied from the runs' `results.jsonl`, except those marked *derived* (ratios and "
        "savings computed from measured values; *derived (probe batch N)*: an out-of-memory cell's throughput "
        "taken from its probe at batch N, only where the probes show throughput flat in batch) and *estimated* "
        "(memory an out-of-memory cell would have needed, extrapolated from smaller-batch probe rows; never a "
        "measurement)."),
        ("- Throughput is images/s (batch / median latency). Memory is in GB = 10^9 bytes (the unit of the "
        f"paper's Figure 1). Savings and the memory claim use **{metric}**: {MEMORY_METRICS[metric][1]}; "
        "the tables show the other metrics too."),
        ("- Plots: solid lines and filled markers are measured; hollow markers on dotted lines are estimated; "
        "dashed grey/black lines are the paper's Figure 1 values "
        f"({PAPER_CITATION}; read off the figure, GPU/batch/precision unstated by the paper); "
        "a cross marks OOM, ERR a failed cell. Each plot is linked as PNG and SVG."),
    ])


def _heading(level: int, text: str) -> str:
    return f"{'#' * level} {text}"


def _run_section(a: Analysis, out_dir: Path, prefix: str, metric: str, paper, level: int, titled: bool) -> str:
    run = a.run
    parts = [_heading(level - 1, f"Run: {run.label}")] if titled else []
    parts.append(_run_header(a.full_run or run, out_dir))
    if not a.has_infer:
        return "\n\n".join([*parts, _training_section(a, out_dir, prefix, metric, level)])
    parts.append(_heading(level, "Claims: 2.8x faster, 86.8% less memory at 1248 px (Vim-Ti vs DeiT-Ti)"))
    parts.append(sections.claims_md(a, metric, paper))
    colors = plots.series_colors(list(a.cells["series"]))
    conds = conditions(a.cells)
    gpu = run.gpu_name
    card_memory, _ = run.gpu_total_memory

    parts.append(_heading(level, "Throughput (images/s, measured)"))
    for cond in conds:
        cells = at_condition(a.cells, cond)
        stem = plots.throughput_vs_resolution(cells, cond, gpu, paper, colors, out_dir,
                                              f"{prefix}throughput_vs_resolution_{_cond_tag(cond)}",
                                              probes=run.frame[run.frame["purpose"] == "oom_estimate"])
        parts += [_cond_caption(cond), sections.pivot(cells, sections.ips_text), sections.image_md(stem, "throughput vs resolution")]
    if (a.cells["status"] == "oom").any() and (run.frame["purpose"] == "oom_estimate").any():
        parts.append("In the plot, a white diamond above an OOM mark is that cell's largest OOM probe "
                     "(same model, resolution and precision at a smaller batch; measured, listed in the OOM "
                     "section): what the model reaches when it fits.")

    parts.append(_heading(level, f"Peak memory (GB, {metric}; OOM cells estimated where probes exist)"))
    has_memory = bool(a.run.frame[MEMORY_METRICS[metric][0]].notna().any())
    if not has_memory:
        parts.append(f"No {metric} memory values in this run (the harness records GPU memory only), so no "
                     "memory table or plot.")
    for cond in conds if has_memory else []:
        cells = at_condition(a.cells, cond)
        stem = plots.memory_vs_resolution(cells, cond, gpu, card_memory, metric, a.estimates, paper, colors,
                                          out_dir, f"{prefix}memory_vs_resolution_{_cond_tag(cond)}")
        parts += [_cond_caption(cond), sections.pivot(cells, lambda r: sections.mem_text(r, metric, a.estimates)),
                  sections.image_md(stem, "peak memory vs resolution")]
    if has_memory and not card_memory:
        parts.append("The card's total memory is not drawn: env.json does not record it.")

    parts.append(_heading(level, "Vim / DeiT: speed ratio and memory saving (derived)"))
    if a.ratios.empty:
        parts.append("No Vim / DeiT pair of the same size ran under the same conditions in this run.")
    for cond in conds:
        ratios = at_condition(a.ratios, cond)
        if ratios.empty:
            continue
        stem = plots.ratios_vs_resolution(ratios, cond, gpu, metric, paper,
                                          (claims_mod.SPEED_CLAIM, claims_mod.MEMORY_CLAIM,
                                           claims_mod.CLAIM_RESOLUTION),
                                          out_dir, f"{prefix}ratios_vs_resolution_{_cond_tag(cond)}")
        parts += [_cond_caption(cond), sections.ratios_md(ratios, metric),
                  sections.image_md(stem, "speed ratio and memory saving")]
    if not a.ratios.empty:
        parts.append("In these plots, pairs with equal values overlap: earlier pairs are drawn thicker, so the "
                     "one underneath shows as a coloured outline (e.g. two Vim backends with the same memory).")

    parts.append(_heading(level, "Out-of-memory cells: estimated memory need"))
    parts.append(sections.estimates_md(a))

    batch_plots = _batch_plots(a, gpu, colors, out_dir, prefix)
    if batch_plots:
        parts.append(_heading(level, "Throughput vs batch size (measured)"))
        parts.append("Only resolutions where a model ran at two or more batches. White diamonds on dashed lines "
                     "are OOM probes: the same cell at smaller batches, measured for the memory estimate.")
        parts += [sections.image_md(stem, "throughput vs batch") for stem in batch_plots]

    parts.append(_heading(level, "All measured cells"))
    parts.append(sections.cells_md(a.rows))
    notes = _notes(a)
    if notes:
        parts.append(_heading(level, "Notes and warnings"))
        parts.append("\n".join(f"- {n}" for n in notes))
    train = _training_section(a, out_dir, prefix, metric, level)
    if train:
        parts.append(train)
    return "\n\n".join(parts)


def _training_section(a: Analysis, out_dir: Path, prefix: str, metric: str, level: int) -> str | None:
    run = a.full_run or a.run
    return training.training_md(a.train, run.gpu_name, run.gpu_total_memory[0], metric, out_dir, prefix, level)


def _run_header(run: Run, out_dir: Path) -> str:
    """The run's conditions; `run` with both modes (the cell counts are per mode)."""
    frame = run.frame
    measure = frame[(frame["purpose"] == "measure") & (frame["mode"] == INFER)]
    counts = ", ".join(f"{(measure['status'] == s).sum()} {s}" for s in ("ok", "oom", "error"))
    train = training.train_frame(frame)
    train = train[train["purpose"] == "measure"]
    train_counts = ", ".join(f"{(train['status'] == s).sum()} {s}" for s in ("ok", "oom", "error"))
    probes = ((frame["purpose"] == "oom_estimate") & (frame["mode"] == INFER)).sum()
    card_memory, where = run.gpu_total_memory
    memory = (f"{card_memory / GB:.1f} GB total (env.json `{where}`)" if card_memory
              else "total memory unknown (not in env.json)")
    versions = []
    for column in ("torch_version", "triton_version", "timm_version"):
        values = sorted({str(v) for v in frame[column].dropna() if v})
        if values:
            versions.append(f"{column.split('_')[0]} {', '.join(values)}")
    lines = [
        (f"- Run directory: `{_shown_path(run.path, out_dir)}` " if not run.combined_from else
         "- Run directories (combined; a cell in several keeps the last one): "
         + ", ".join(f"`{_shown_path(p, out_dir)}`" for p in run.combined_from) + " ")
        + f"(suite: {run.suite_name or 'unknown'})",
        f"- Card: **{run.gpu_name}**, {memory}",
        *([f"- Selection (run.json): `{_selection_text(run.selection)}`"] if run.selection else []),
        f"- Cells: {len(measure)} measured ({counts}); {probes} OOM probe rows",
        *([f"- Training cells (mode train, in their own section): {len(train)} ({train_counts})"] if len(train) else []),
        f"- Commit: {', '.join(c[:12] for c in run.commits) or 'unknown'}; {'; '.join(versions) or 'versions unknown'}",
    ]
    return "\n".join(lines)


def _selection_text(selection: dict) -> str:
    return " ".join(f"--only {k}={','.join(map(str, v)) if isinstance(v, list) else v}"
                    for k, v in sorted(selection.items()))


def _shown_path(path: Path, out_dir: Path) -> str:
    """The run directory relative to the report (a working link) unless that climbs far."""
    relative = os.path.relpath(path.resolve(), out_dir.resolve())
    return relative if relative.count("..") <= 2 else str(path.resolve())


def _cond_tag(cond) -> str:
    batch, precision, exec_mode = cond
    return file_safe(f"b{batch}_{precision}_{exec_mode}")


def _cond_caption(cond) -> str:
    batch, precision, exec_mode = cond
    return f"**batch {batch}, {precision}, {exec_mode}**"


def _batch_plots(a: Analysis, gpu: str, colors, out_dir: Path, prefix: str) -> list[str]:
    """Throughput vs batch per (precision, exec mode), over resolutions where a model ran at 2+ batches.

    OOM probes count: they are measurements at smaller batches (drawn apart from the sweep's cells).
    """
    import pandas as pd

    probes = a.run.frame[(a.run.frame["purpose"] == "oom_estimate") & (a.run.frame["status"] == "ok")].copy()
    probes["series"] = [series_label(m, v) for m, v in zip(probes["model"], probes["variant"])]
    both = pd.concat([a.cells.assign(probe=False), probes.assign(probe=True)], ignore_index=True)
    stems = []
    for (precision, exec_mode), group in sorted(both.groupby(["precision", "exec_mode"]), key=lambda kv: kv[0]):
        per_series = group.groupby(["series", "resolution"])["batch"].nunique()
        several = {res for (_, res), n in per_series.items() if n >= 2}
        if not several:
            continue
        group = group[group["resolution"].isin(several)]
        stems.append(plots.throughput_vs_batch(
            group, precision, exec_mode, gpu, colors, out_dir,
            f"{prefix}throughput_vs_batch_{file_safe(precision)}_{file_safe(exec_mode)}"))
    return stems


def _notes(a: Analysis) -> list[str]:
    run, notes = a.run, []
    if run.torn_lines:
        notes.append(f"{len(run.torn_lines)} torn line(s) in results.jsonl skipped (lines "
                     f"{', '.join(map(str, run.torn_lines))}): a run killed mid-write; `vimbench run --resume` "
                     "re-runs those cells.")
    repeated = a.cells[a.cells["n_repeats"] > 1]
    if len(repeated):
        low, high = int(repeated["n_repeats"].min()), int(repeated["n_repeats"].max())
        notes.append(f"{len(repeated)} cell(s) were measured {low if low == high else f'{low}-{high}'} times "
                     "(suite option `repeats`): tables, ratios and plots "
                     "use the median of the ok repeats (derived); the all-cells table lists every repeat.")
    cards = sorted({n for n in run.frame["gpu_name"].dropna() if n})
    if len(cards) > 1:
        notes.append(f"Rows from {len(cards)} cards in this run ({', '.join(cards)}): its ratios and verdicts may pair "
                     "cells measured on different cards; report each card's rows as a run of its own.")
    if run.duplicates_dropped:
        notes.append(f"{run.duplicates_dropped} earlier duplicate row(s) of the same cell replaced by the later one.")
    if run.graph_memory_dropped:
        notes.append(f"{run.graph_memory_dropped} cuda_graph row(s) written before the harness measured a graph's "
                     "allocated memory right (it missed the activations in the graph's pool, or held the input "
                     "twice): their allocated peak is left out (reserved and NVML memory stay); re-run those "
                     "cells to measure it.")
    errors = a.rows[a.rows["status"] == "error"]
    for r in errors.itertuples(index=False):
        notes.append(f"error: {series_label(r.model, r.variant)} {r.resolution} px, batch {r.batch}, "
                     f"{r.precision}, {r.exec_mode}: {sections.last_line(r.error)[:200]}")
    cv = a.rows["latency_cv"].astype(float)
    high = a.rows[cv > sections.HIGH_CV]
    if len(high):
        notes.append(f"{len(high)} cell(s) with latency CV above {sections.HIGH_CV:.0%}: their timings are noisy.")
    throttled = a.rows[a.rows["throttled"].fillna(False).astype(bool)]
    if len(throttled):
        which = ", ".join(f"{series_label(r.model, r.variant)} {r.resolution} px batch {r.batch}"
                          for r in throttled.itertuples(index=False))
        notes.append(f"{len(throttled)} cell(s) ran while the GPU reported throttling (see `throttled` and the "
                     f"telemetry in results.csv): {which}.")
    return notes


