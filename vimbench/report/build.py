"""Build a report directory from run directories: report.md, CSVs, PNG + SVG plots.

One run gives one report.  Several runs give one section per run (ratios are only taken
inside a run: one card, one session) plus a comparison of each later run against the first.
Nothing here reads a clock or the host, so the same inputs give byte-identical outputs.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from vimbench.report import claims as claims_mod
from vimbench.report import plots
from vimbench.report.compare import match_runs
from vimbench.report.estimate import estimate_oom_cells
from vimbench.report.load import Run, combine_runs, load_runs
from vimbench.report.markdown import fmt, fmt_gb, fmt_ips, fmt_pct, fmt_ratio, is_missing, table
from vimbench.report.names import GB, MEMORY_METRICS, series_label
from vimbench.report.paper import PAPER_CITATION, load_paper_figure1
from vimbench.report.tables import at_condition, conditions, measured_cells, measured_rows, ratio_table

REPORT_FILE = "report.md"
HIGH_CV = 0.05


@dataclass
class Analysis:
    run: Run
    rows: object         # DataFrame of measure rows (repeats kept)
    cells: object        # DataFrame, one row per cell (median of repeats)
    estimates: object    # DataFrame from estimate_oom_cells
    ratios: object       # DataFrame from ratio_table
    claims: list


def analyse(run: Run, metric: str) -> Analysis:
    rows = measured_rows(run.frame)
    cells = measured_cells(run.frame)
    estimates = estimate_oom_cells(run.frame)
    ratios = ratio_table(cells, estimates)
    card_memory, _ = run.gpu_total_memory
    probes = run.frame[run.frame["purpose"] == "oom_estimate"]
    return Analysis(run, rows, cells, estimates, ratios,
                    claims_mod.claim_rows(ratios, card_memory, metric, probes))


def build_report(run_paths: list[Path], out_dir: Path, metric: str = "allocated", combine: bool = False,
                 command: str | None = None) -> Path:
    """Write the report for `run_paths` into `out_dir`; returns the path of report.md.

    combine: pool the runs into one (same card only) instead of reporting and comparing them.
    command: the command line that regenerates this report, printed at the top.
    """
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
    parts.append(_reading_guide(metric))
    for c in comparisons:
        parts.append(_comparison_section(c, out_dir, metric, analyses))
    for a in analyses:
        prefix = f"{_safe(a.run.label)}_" if multi else ""
        parts.append(_run_section(a, out_dir, prefix, metric, paper, level=3 if multi else 2, titled=multi))
    (out_dir / REPORT_FILE).write_text("\n\n".join(parts).rstrip() + "\n", encoding="utf-8")
    _write_csvs(out_dir, analyses, comparisons)
    return out_dir / REPORT_FILE


# ----------------------------------------------------------------------------- CSV outputs

def _write_csvs(out_dir: Path, analyses: list[Analysis], comparisons) -> None:
    import pandas as pd

    frames = [a.run.frame.copy() for a in analyses]
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
    for base, other, matched, _, _ in comparisons:
        matched.to_csv(out_dir / f"compare_{_safe(other.label)}_vs_{_safe(base.label)}.csv", index=False,
                       lineterminator="\n")


def _remove_previous_report(out_dir: Path) -> None:
    """A re-generated report must not keep plots from an older one beside it."""
    if not (out_dir / REPORT_FILE).exists():
        return
    for path in sorted(out_dir.iterdir()):
        if path.is_file() and path.suffix in (".png", ".svg", ".csv", ".md"):
            path.unlink()


def _safe(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", label)


# ----------------------------------------------------------------------------- markdown sections

def _title(runs: list[Run]) -> str:
    if len(runs) == 1:
        run = runs[0]
        return f"# vimbench report: {run.label} ({run.suite_name or 'unknown suite'} on {run.gpu_name})"
    return "# vimbench report: " + " vs ".join(r.label for r in runs)


def _reading_guide(metric: str) -> str:
    return "\n".join([
        "How to read this report:",
        "",
        ("- Every number is copied from the runs' `results.jsonl`, except those marked *derived* (ratios and "
        "savings computed from measured values) and *estimated* (memory an out-of-memory cell would have "
        "needed, extrapolated from smaller-batch probe rows; never a measurement)."),
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
    parts.append(_run_header(run, out_dir))
    parts.append(_heading(level, "Claims: 2.8x faster, 86.8% less memory at 1248 px (Vim-Ti vs DeiT-Ti)"))
    parts.append(_claims_md(a, metric, paper))
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
        parts += [_cond_caption(cond), _pivot(cells, _ips_text), _image(stem, "throughput vs resolution")]
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
        parts += [_cond_caption(cond), _pivot(cells, lambda r: _mem_text(r, metric, a.estimates)),
                  _image(stem, "peak memory vs resolution")]
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
        parts += [_cond_caption(cond), _ratios_md(ratios, metric), _image(stem, "speed ratio and memory saving")]

    parts.append(_heading(level, "Out-of-memory cells: estimated memory need"))
    parts.append(_estimates_md(a))

    batch_plots = _batch_plots(a, gpu, colors, out_dir, prefix)
    if batch_plots:
        parts.append(_heading(level, "Throughput vs batch size (measured)"))
        parts += [_image(stem, "throughput vs batch") for stem in batch_plots]

    parts.append(_heading(level, "All measured cells"))
    parts.append(_cells_md(a.rows))
    notes = _notes(a)
    if notes:
        parts.append(_heading(level, "Notes and warnings"))
        parts.append("\n".join(f"- {n}" for n in notes))
    return "\n\n".join(parts)


def _run_header(run: Run, out_dir: Path) -> str:
    frame = run.frame
    measure = frame[frame["purpose"] == "measure"]
    counts = ", ".join(f"{(measure['status'] == s).sum()} {s}" for s in ("ok", "oom", "error"))
    probes = (frame["purpose"] == "oom_estimate").sum()
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
        f"- Cells: {len(measure)} measured ({counts}); {probes} OOM probe rows",
        f"- Commit: {', '.join(c[:12] for c in run.commits) or 'unknown'}; {'; '.join(versions) or 'versions unknown'}",
    ]
    return "\n".join(lines)


def _shown_path(path: Path, out_dir: Path) -> str:
    """The run directory relative to the report (a working link) unless that climbs far."""
    relative = os.path.relpath(path.resolve(), out_dir.resolve())
    return relative if relative.count("..") <= 2 else str(path.resolve())


def _cond_tag(cond) -> str:
    batch, precision, exec_mode = cond
    return _safe(f"b{batch}_{precision}_{exec_mode}")


def _cond_caption(cond) -> str:
    batch, precision, exec_mode = cond
    return f"**batch {batch}, {precision}, {exec_mode}**"


def _image(stem: str, alt: str) -> str:
    return f"![{alt}]({stem}.png)\n\n([SVG]({stem}.svg))"


def _pivot(cells, text) -> str:
    """Rows: model (variant); columns: resolution; cells: text(row)."""
    resolutions = sorted({int(r) for r in cells["resolution"]})
    series = sorted(set(cells["series"]))
    rows = []
    for s in series:
        row = [s]
        for res in resolutions:
            hit = cells[(cells["series"] == s) & (cells["resolution"] == res)]
            row.append(text(hit.iloc[-1]) if not hit.empty else "-")
        rows.append(row)
    return table(["model (variant)", *[f"{r} px" for r in resolutions]], rows, "l" + "r" * len(resolutions))


def _status_text(row) -> str:
    return "OOM" if row["status"] == "oom" else row["status"]


def _ips_text(row) -> str:
    return fmt_ips(row["images_per_s"], "-") if row["status"] == "ok" else _status_text(row)


def _mem_text(row, metric: str, estimates) -> str:
    column = MEMORY_METRICS[metric][0]
    if row["status"] == "ok":
        return fmt_gb(row[column], "-")
    if row["status"] == "oom":
        est = estimates[(estimates["metric"] == metric) & (estimates["status"] == "estimated")
                        & (estimates["model"] == row["model"]) & (estimates["variant"] == row["variant"])
                        & (estimates["resolution"] == row["resolution"]) & (estimates["batch"] == row["batch"])
                        & (estimates["precision"] == row["precision"])
                        & (estimates["exec_mode"] == row["exec_mode"])]
        if not est.empty:
            return f"OOM; {fmt_gb(est['estimated_bytes'].iloc[0])} estimated"
    return _status_text(row)


def _ratios_md(ratios, metric: str) -> str:
    rows = []
    for r in ratios.itertuples(index=False):
        source = getattr(r, f"deit_mem_{metric}_source")
        deit_mem = getattr(r, f"deit_mem_{metric}")
        deit_mem_text = fmt_gb(deit_mem) + (" (estimated)" if source == "estimated" else "")
        saving = getattr(r, f"saving_{metric}")
        saving_text = fmt_pct(saving) + (" (estimated)" if source == "estimated" and not is_missing(saving) else "")
        rows.append([
            r.resolution, series_label(r.vim_model, r.vim_variant), series_label(r.deit_model, r.deit_variant),
            fmt_ips(r.vim_images_per_s, r.vim_status.upper() if r.vim_status == "oom" else r.vim_status),
            fmt_ips(r.deit_images_per_s, r.deit_status.upper() if r.deit_status == "oom" else r.deit_status),
            fmt_ratio(r.speed_ratio, "-"),
            fmt_gb(getattr(r, f"vim_mem_{metric}"), "-"), deit_mem_text or "-", saving_text or "-",
        ])
    return table(["px", "Vim", "DeiT", "Vim images/s", "DeiT images/s", "speed ratio (derived)",
                  f"Vim GB ({metric})", f"DeiT GB ({metric})", "memory saving (derived)"],
                 rows, "rllrrrrrr")


def _claims_md(a: Analysis, metric: str, paper) -> str:
    run = a.run
    card_memory, _ = run.gpu_total_memory
    lines = [
        (f"Paper: {PAPER_CITATION}: Vim-Ti is {claims_mod.SPEED_CLAIM:g}x faster than DeiT-Ti and saves "
        f"{100 * claims_mod.MEMORY_CLAIM:.1f}% GPU memory at {claims_mod.CLAIM_RESOLUTION} px. "
        "The paper's DeiT most likely used plain (eager) attention; modern DeiT uses fused SDPA."),
        "",
        (f"Conditions: card **{run.gpu_name}**; memory metric **{metric}** ({MEMORY_METRICS[metric][1]}); "
        "batch, precision and execution mode per row."),
        "",
        f"Rule: {claims_mod.RULE}",
        "",
        _paper_memory_arithmetic(a, paper, metric),
        "",
    ]
    for claim, name in (("speed", f"{claims_mod.SPEED_CLAIM:g}x speed"),
                        ("memory", f"{100 * claims_mod.MEMORY_CLAIM:.1f}% memory saving")):
        for kernel in sorted({c.deit_variant for c in a.claims if c.claim == claim},
                             key=lambda k: (k not in claims_mod.DEIT_KERNELS, claims_mod.DEIT_KERNELS.index(k)
                                            if k in claims_mod.DEIT_KERNELS else 0, k)):
            rows = [c for c in a.claims if c.claim == claim and c.deit_variant == kernel]
            condition = "the paper's condition" if kernel == "eager" else "fused attention" if kernel == "sdpa" else ""
            summary = "; ".join(_claim_summary(c) for c in rows)
            lines.append(f"- **{name} vs DeiT-Ti ({kernel}{', ' + condition if condition else ''})**: {summary}")
    header = ["claim", "DeiT-Ti attention", "Vim-Ti backend", "precision", "batch", "exec", "measured (derived)",
              "paper", "verdict", "basis", "saving with other memory metrics"]
    rows = []
    for c in a.claims:
        measured = fmt_ratio(c.measured, "-") if c.claim == "speed" else fmt_pct(c.measured, "-")
        if c.verdict.endswith("(estimated)"):
            measured += " (estimated)"
        paper = fmt_ratio(c.paper) if c.claim == "speed" else fmt_pct(c.paper)
        rows.append([c.claim, c.deit_variant, c.vim_variant or "-", c.precision or "-", fmt(c.batch, "d", "-"),
                     c.exec_mode or "-", measured, paper, f"**{c.verdict}**", c.basis, c.other_metrics or "-"])
    lines += ["", table(header, rows)]
    if card_memory is None and any(c.claim == "memory" and "DeiT-Ti" in c.basis and "OOM" in c.basis
                                   for c in a.claims):
        lines.append("\n(No derived lower bound for OOM cells: the card's total memory is not in env.json.)")
    return "\n".join(lines)


def _paper_memory_arithmetic(a: Analysis, paper, metric: str) -> str:
    """What 86.8% means in GB on the paper's own figure, beside this run's DeiT-Ti need at 1248."""
    at = paper[paper["resolution"] == claims_mod.CLAIM_RESOLUTION].iloc[0]
    implied = at["vim_ti_gb"] / (1 - claims_mod.MEMORY_CLAIM)
    text = (f"Memory arithmetic: with Vim-Ti at {at['vim_ti_gb']:.2f} GB in the paper's figure, a "
            f"saving of {100 * claims_mod.MEMORY_CLAIM:.1f}% means DeiT-Ti needed about {implied:.1f} GB "
            "(derived from the paper), which the figure plots as OOM: the paper's memory claim, too, is against "
            "a DeiT-Ti that did not fit.")
    ours = a.estimates[(a.estimates["model"] == claims_mod.CLAIM_DEIT)
                       & (a.estimates["resolution"] == claims_mod.CLAIM_RESOLUTION)
                       & (a.estimates["metric"] == metric) & (a.estimates["status"] == "estimated")]
    for r in ours.itertuples(index=False):
        text += (f" This run: DeiT-Ti ({r.variant}) at batch {r.batch}, {r.precision} would need "
                 f"{fmt_gb(r.estimated_bytes)} GB ({metric}, *estimated* from probes at batches {r.probe_batches}).")
    return text


def _claim_summary(c) -> str:
    if not c.vim_variant:
        return f"{c.verdict}: {c.basis}"
    value = fmt_ratio(c.measured) if c.claim == "speed" else fmt_pct(c.measured)
    where = f"(Vim {c.vim_variant}, {c.precision}, batch {c.batch}, {c.exec_mode})"
    if not value:  # not measured: say why (the first sentence of the basis)
        return f"{c.verdict}: {c.basis.split('. ')[0]} {where}"
    return f"{c.verdict}: {value} {where}"


def _estimates_md(a: Analysis) -> str:
    est = a.estimates
    if est.empty:
        return "No measured cell ran out of memory."
    rows = []
    for r in est.itertuples(index=False):
        rows.append([series_label(r.model, r.variant), r.resolution, r.batch, r.precision, r.exec_mode, r.metric,
                     f"{fmt_gb(r.estimated_bytes)} (estimated)" if r.status == "estimated" else "-",
                     r.status, r.probe_batches or "-", fmt_gb(r.intercept_bytes, "-"),
                     fmt(None if is_missing(r.slope_bytes_per_image) else r.slope_bytes_per_image / 1e6, ".1f", "-"),
                     fmt(r.r2, ".5f", "-")])
    messages = [f"{series_label(c.model, c.variant)} {c.resolution} px, batch {c.batch}, {c.precision}: "
                f"{_last_line(c.error)[:240]}"
                for c in a.cells[a.cells["status"] == "oom"].itertuples(index=False)]
    probes = a.run.frame[a.run.frame["purpose"] == "oom_estimate"].sort_values(
        ["model", "variant", "resolution", "precision", "exec_mode", "batch"], kind="stable")
    probe_rows = [[series_label(p.model, p.variant), p.resolution, p.batch, p.precision, p.exec_mode,
                   p.status if p.status != "oom" else "OOM", fmt_ips(p.images_per_s, "-"),
                   *[fmt_gb(getattr(p, c), "-") for c, _ in MEMORY_METRICS.values()]]
                  for p in probes.itertuples(index=False)]
    text = [
        ("Fit: peak memory = a + b x batch (least squares over the probe batches of the same model, variant, "
        "resolution, precision and exec mode), evaluated at the batch that ran out of memory. "
        "An extrapolation, labelled *estimated* wherever it is used. With 2 probe batches R^2 is trivially 1."),
        "",
        table(["model (variant)", "px", "OOM batch", "precision", "exec", "metric", "need (GB)", "status",
               "probe batches", "a (GB)", "b (MB/image)", "R^2"], rows, "lrrlllrllrrr"),
    ]
    if messages:
        text += ["", "The out-of-memory errors as recorded:", "", *[f"- {m}" for m in messages]]
    if probe_rows:
        text += ["", "Probe rows (measured at smaller batches):", "",
                 table(["model (variant)", "px", "batch", "precision", "exec", "status", "images/s",
                        *[f"{m} GB" for m in MEMORY_METRICS]], probe_rows, "lrrllrrrrr")]
    return "\n".join(text)


def _batch_plots(a: Analysis, gpu: str, colors, out_dir: Path, prefix: str) -> list[str]:
    stems = []
    for (precision, exec_mode), group in sorted(a.cells.groupby(["precision", "exec_mode"]), key=lambda kv: kv[0]):
        per_series = group.groupby(["series", "resolution"])["batch"].nunique()
        if per_series.max() < 2:
            continue
        stems.append(plots.throughput_vs_batch(group, precision, exec_mode, gpu, colors, out_dir,
                                               f"{prefix}throughput_vs_batch_{_safe(precision)}_{_safe(exec_mode)}"))
    return stems


def _cells_md(rows) -> str:
    repeated = bool((rows["repeat"].fillna(0) > 0).any())
    out = []
    for r in rows.itertuples(index=False):
        cv = r.latency_cv
        out.append([series_label(r.model, r.variant), r.resolution, fmt(r.tokens, ".0f", "-"), r.batch,
                    r.precision, r.exec_mode, *([r.repeat] if repeated else []),
                    "OOM" if r.status == "oom" else r.status,
                    fmt_ips(r.images_per_s, "-"), fmt(r.latency_ms_median, ".2f", "-"),
                    f"{fmt(r.latency_ms_p10, '.2f', '-')} / {fmt(r.latency_ms_p90, '.2f', '-')}",
                    fmt_pct(cv, "-") + (" (high)" if not is_missing(cv) and cv > HIGH_CV else ""),
                    fmt_gb(r.mem_max_allocated_bytes, "-"), fmt_gb(r.mem_max_reserved_bytes, "-"),
                    fmt_gb(r.mem_nvml_process_bytes, "-"), fmt(r.energy_j_per_image, ".3f", "-")])
    header = ["model (variant)", "px", "tokens", "batch", "precision", "exec", *(["repeat"] if repeated else []),
              "status", "images/s", "median ms", "p10 / p90 ms", "CV", "allocated GB", "reserved GB", "NVML GB",
              "J/image"]
    return table(header, out, "lrrrll" + ("r" if repeated else "") + "lrrrrrrrr")


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
    if run.duplicates_dropped:
        notes.append(f"{run.duplicates_dropped} earlier duplicate row(s) of the same cell replaced by the later one.")
    errors = a.rows[a.rows["status"] == "error"]
    for r in errors.itertuples(index=False):
        notes.append(f"error: {series_label(r.model, r.variant)} {r.resolution} px, batch {r.batch}, "
                     f"{r.precision}, {r.exec_mode}: {_last_line(r.error)[:200]}")
    cv = a.rows["latency_cv"].astype(float)
    high = a.rows[cv > HIGH_CV]
    if len(high):
        notes.append(f"{len(high)} cell(s) with latency CV above {HIGH_CV:.0%}: their timings are noisy.")
    throttled = a.rows[a.rows["throttled"].fillna(False).astype(bool)]
    if len(throttled):
        which = ", ".join(f"{series_label(r.model, r.variant)} {r.resolution} px batch {r.batch}"
                          for r in throttled.itertuples(index=False))
        notes.append(f"{len(throttled)} cell(s) ran while the GPU reported throttling (see `throttled` and the "
                     f"telemetry in results.csv): {which}.")
    return notes


def _comparison_section(comparison, out_dir: Path, metric: str, analyses: list[Analysis]) -> str:
    base, other, matched, only_base, only_other = comparison
    column = MEMORY_METRICS[metric][0]
    stem = plots.compare_runs(matched, base.label, other.label, base.gpu_name, other.gpu_name, out_dir,
                              f"compare_{_safe(other.label)}_vs_{_safe(base.label)}")
    rows = []
    for r in matched.to_dict("records"):
        rows.append([r["series"], r["resolution"], r["batch"], r["precision"], r["exec_mode"],
                     _status_or(r["status_base"], fmt_ips(r["images_per_s_base"])),
                     _status_or(r["status_other"], fmt_ips(r["images_per_s_other"])),
                     fmt_ratio(r["images_per_s_ratio"], "-"),
                     _status_or(r["status_base"], fmt_gb(r[f"{column}_base"], "-")),
                     _status_or(r["status_other"], fmt_gb(r[f"{column}_other"], "-")),
                     fmt_ratio(r[f"{column}_ratio"], "-")])
    claim_rows = []
    for order, a in enumerate(x for x in analyses if x.run.label in (base.label, other.label)):
        for c in a.claims:
            measured = fmt_ratio(c.measured, "-") if c.claim == "speed" else fmt_pct(c.measured, "-")
            if c.verdict.endswith("(estimated)"):
                measured += " (estimated)"
            key = (c.claim != "speed", c.deit_variant, c.vim_variant, c.precision, c.batch or 0, c.exec_mode, order)
            claim_rows.append((key, [c.claim, c.deit_variant, c.vim_variant or "-", c.precision or "-",
                                     fmt(c.batch, "d", "-"), c.exec_mode or "-", a.run.label, a.run.gpu_name,
                                     measured, f"**{c.verdict}**"]))
    claim_rows = [row for _, row in sorted(claim_rows, key=lambda kv: kv[0])]
    lines = [
        f"## Comparison: {other.label} vs {base.label}",
        "",
        (f"Base **{base.label}** ({base.gpu_name}, commit {', '.join(c[:12] for c in base.commits) or 'unknown'}) "
        f"vs **{other.label}** ({other.gpu_name}, commit "
        f"{', '.join(c[:12] for c in other.commits) or 'unknown'}). Ratios are {other.label} / {base.label} "
        f"(derived); {len(matched)} common cells, {only_base} only in {base.label}, {only_other} only in "
        f"{other.label}. Runs on different cards or days are weak evidence for small differences."),
        "",
        table(["model (variant)", "px", "batch", "precision", "exec", f"{base.label} images/s",
               f"{other.label} images/s", "throughput ratio (derived)", f"{base.label} GB ({metric})",
               f"{other.label} GB ({metric})", "memory ratio (derived)"], rows, "lrrllrrrrrr"),
        "",
        _image(stem, "throughput ratio between runs"),
        "",
        "The claims in both runs (details in each run's section):",
        "",
        table(["claim", "DeiT-Ti attention", "Vim-Ti backend", "precision", "batch", "exec", "run", "card",
               "measured (derived)", "verdict"], claim_rows),
    ]
    return "\n".join(lines)


def _last_line(message) -> str:
    """The last line of an error message (the exception), or 'no message'."""
    lines = message.strip().splitlines() if isinstance(message, str) else []
    return lines[-1] if lines else "no message"


def _status_or(status: str, text: str) -> str:
    return text if status == "ok" else ("OOM" if status == "oom" else status)
