"""Markdown for the report's sections: pivots, ratio and claims tables, OOM estimates, comparison.

Numbers are formatted here and nowhere else; a value that is estimated carries the word.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from vimbench.report import claims as claims_mod
from vimbench.report import plots
from vimbench.report import verdict as verdict_mod
from vimbench.report.estimate import estimate_for
from vimbench.report.markdown import fmt, fmt_gb, fmt_ips, fmt_pct, fmt_ratio, is_missing, table
from vimbench.report.names import MEMORY_METRICS, file_safe, series_label
from vimbench.report.paper import PAPER_CITATION
from vimbench.report.probe_speed import FLAT_TOLERANCE

if TYPE_CHECKING:
    from vimbench.report.build import Analysis

HIGH_CV = 0.05  # latency coefficient of variation above which a cell's timing is called noisy


def pivot(cells, text) -> str:
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


def ips_text(row) -> str:
    return fmt_ips(row["images_per_s"], "-") if row["status"] == "ok" else _status_text(row)


def mem_text(row, metric: str, estimates) -> str:
    column = MEMORY_METRICS[metric][0]
    if row["status"] == "ok":
        return fmt_gb(row[column], "-")
    if row["status"] == "oom":
        est = estimate_for(estimates, row, metric)
        if est is not None and est["status"] == "estimated":
            return f"OOM; {fmt_gb(est['estimated_bytes'])} estimated"
    return _status_text(row)


def ratios_md(ratios, metric: str) -> str:
    rows = []
    for r in ratios.itertuples(index=False):
        source = getattr(r, f"deit_mem_{metric}_source")
        deit_mem = getattr(r, f"deit_mem_{metric}")
        deit_mem_text = fmt_gb(deit_mem) + (" (estimated)" if source == "estimated" else "")
        saving = getattr(r, f"saving_{metric}")
        saving_text = fmt_pct(saving) + (" (estimated)" if source == "estimated" and not is_missing(saving) else "")
        rows.append([
            r.resolution, series_label(r.vim_model, r.vim_variant),
            series_label(r.deit_model, r.deit_variant) + ("" if r.deit_exec_mode == r.exec_mode
                                                          else f", {r.deit_exec_mode}"),
            fmt_ips(r.vim_images_per_s, r.vim_status.upper() if r.vim_status == "oom" else r.vim_status),
            fmt_ips(r.deit_images_per_s, r.deit_status.upper() if r.deit_status == "oom" else r.deit_status),
            fmt_ratio(r.speed_ratio, "-"),
            fmt_gb(getattr(r, f"vim_mem_{metric}"), "-"), deit_mem_text or "-", saving_text or "-",
        ])
    return table(["px", "Vim", "DeiT", "Vim images/s", "DeiT images/s", "speed ratio (derived)",
                  f"Vim GB ({metric})", f"DeiT GB ({metric})", "memory saving (derived)"],
                 rows, "rllrrrrrr")


def claims_md(a: Analysis, metric: str, paper) -> str:
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
                             key=claims_mod.deit_kernel_order):
            rows = [c for c in a.claims if c.claim == claim and c.deit_variant == kernel]
            condition = claims_mod.DEIT_KERNEL_NOTES.get(kernel, "")
            summary = "; ".join(_claim_summary(c) for c in rows)
            lines.append(f"- **{name} vs DeiT-Ti ({kernel}{', ' + condition if condition else ''})**: {summary}")
    header = ["claim", "DeiT-Ti attention", "Vim-Ti backend", "precision", "batch", "exec", "measured (derived)",
              "paper", "verdict", "basis", "saving with other memory metrics"]
    rows = []
    for c in a.claims:
        paper = fmt_ratio(c.paper) if c.claim == "speed" else fmt_pct(c.paper)
        rows.append([c.claim, c.deit_variant, c.vim_variant or "-", c.precision or "-", fmt(c.batch, "d", "-"),
                     c.exec_mode or "-", _claim_measured(c), paper, f"**{c.verdict}**", c.basis, c.other_metrics or "-"])
    lines += ["", table(header, rows)]
    if card_memory is None and any(c.claim == "memory" and "DeiT-Ti" in c.basis and "OOM" in c.basis
                                   for c in a.claims):
        lines.append("\n(No derived lower bound for OOM cells: the card's total memory is not in env.json.)")
    return "\n".join(lines)


def verdict_md(cells: list, gpu: str, metric: str, paper) -> str:
    """The verdict table (verdict.verdict_cells): one table per (batch, precision), Vim rows x DeiT columns."""
    v = verdict_mod
    lines = [
        (f"Vim-Ti against DeiT-Ti on **{gpu}**, memory metric **{metric}**. Rows: **{v.PAPER_VIM}** (variant "
         f"`{v.PAPER_VIM_VARIANT}`: the official Vim code on the mamba_ssm / causal_conv1d CUDA kernels) and "
         f"**{v.VIMBENCH_VIM}** (vimbench's own kernels: the fastest Vim-Ti variant other than "
         f"{', '.join(v.NOT_VIMBENCH_VIM)}; `{v.TORCH_REFERENCE}`, the slow reference, only where no other ran), "
         "any exec mode. Columns: "
         f"**{v.DEIT_EAGER}** (attention eager, exec mode eager: the paper's condition) and "
         f"**{v.DEIT_FASTEST}** (every DeiT-Ti cell: any attention, any exec mode). Each side is at its best "
         "per claim: speed from its fastest cell, memory from its leanest (named where it is another cell: a "
         "CUDA graph keeps its own input buffer, so the fastest cell need not be the leanest). Speed ratio = "
         "Vim images/s / DeiT images/s; memory saving = 1 - Vim peak / DeiT peak."),
        "",
        (f"Basis of each value: *measured* (both cells ran at the batch); *derived (probe batch N)* (DeiT ran "
         "out of memory; its images/s at probe batch N, used only when its two largest probes are within "
         f"{100 * FLAT_TOLERANCE:g}% of each other: throughput flat in batch); *estimated* (DeiT ran out of "
         "memory; its need extrapolated from the probes); *not measured* (the reason is given). Verdicts: "
         f"the rule of the claims section (>= {claims_mod.SPEED_TOLERANCE * claims_mod.SPEED_CLAIM:.2f}x, "
         f">= {100 * (claims_mod.MEMORY_CLAIM - claims_mod.MEMORY_TOLERANCE):.1f}%). The claims are "
         f"stated at {claims_mod.CLAIM_RESOLUTION} px; 1024 px is held to the same thresholds to show the "
         f"trend ({_paper_at(paper)}). The first table is the claim's default condition (batch "
         f"{claims_mod.CLAIM_BATCH}, {claims_mod.CLAIM_PRECISION}: the highres suite's; the paper states "
         "neither), then any other batch and precision in the run."),
    ]
    resolutions = list(dict.fromkeys(c.resolution for c in cells))
    if resolutions and not set(resolutions) & set(v.VERDICT_RESOLUTIONS):
        lines += ["", f"**Not the claim's resolution.** This run has no Vim-Ti / DeiT-Ti pair at "
                  f"{' or '.join(map(str, v.VERDICT_RESOLUTIONS))} px, so the table is at {resolutions[0]} px, the "
                  "largest size at which both ran: the paper's thresholds are applied there to show the comparison, "
                  "not as a test of the claims."]
    conditions = list(dict.fromkeys((c.batch, c.precision) for c in cells))
    for batch, precision in conditions:
        group = [c for c in cells if (c.batch, c.precision) == (batch, precision)]
        rows, notes = [], []
        for vim in (v.PAPER_VIM, v.VIMBENCH_VIM):
            for resolution in resolutions:
                pair = {c.deit: c for c in group if c.vim == vim and c.resolution == resolution}
                first = pair[v.DEIT_EAGER]
                rows.append([f"**{vim}**", resolution, _vim_config_text(first),
                             *[_verdict_cell_text(pair[deit]) for deit in (v.DEIT_EAGER, v.DEIT_FASTEST)]])
                for c in pair.values():
                    notes += [n for basis, n in ((c.speed_basis, c.speed_note), (c.memory_basis, c.memory_note))
                              if basis not in (v.MEASURED, v.NOT_MEASURED)]  # derived, estimated
        lines += ["", f"**batch {batch}, {precision}**", "",
                  table(["Vim-Ti", "px", "Vim-Ti configuration", f"vs {v.DEIT_EAGER} (the paper's condition)",
                         f"vs {v.DEIT_FASTEST} (any attention, any exec mode)"], rows, "lrlll")]
        notes = list(dict.fromkeys(notes))
        if notes:
            lines += ["", "Derived and estimated values:", "", *[f"- {n}" for n in notes]]
    return "\n".join(lines)


def fastest_md(rows: list, metric: str) -> str:
    """The fastest-against-fastest table (fastest.fastest_rows): one table per (batch, precision)."""
    lines = [
        ("Vim-Ti on vimbench's kernels against the fastest DeiT-Ti cell (any attention, any exec mode) at every "
         "resolution where both ran. **Fastest Vim-Ti** is its fastest cell in any exec mode; **Vim-Ti eager** the "
         "fastest in exec mode eager, what a timm user gets without asking for graphs or compilation. Memory: "
         "each side's leanest cell. Ratios and savings are derived."),
    ]
    for batch, precision in dict.fromkeys((r.batch, r.precision) for r in rows):
        body = []
        for r in (r for r in rows if (r.batch, r.precision) == (batch, precision)):
            deit = _ips_config(r.deit_images_per_s, r.deit_config)
            if r.deit_speed_basis not in (verdict_mod.MEASURED, verdict_mod.NOT_MEASURED):
                deit += f" ({r.deit_speed_basis})"
            deit_mem = fmt_gb(r.deit_mem_bytes, "-") + (" (estimated)" if r.deit_mem_basis == verdict_mod.ESTIMATED
                                                        else "")
            body.append([r.resolution, _ips_config(r.vim_images_per_s, r.vim_config),
                         _ips_config(r.vim_eager_images_per_s, r.vim_eager_config), deit,
                         fmt_ratio(r.speed_ratio, "-"), fmt_ratio(r.eager_speed_ratio, "-"),
                         f"{fmt_gb(r.vim_mem_bytes, '-')} ({r.vim_mem_config})",
                         f"{deit_mem} ({r.deit_mem_config})", fmt_pct(r.memory_saving, "-")])
        lines += ["", f"**batch {batch}, {precision}**", "",
                  table(["px", "fastest Vim-Ti, images/s", "Vim-Ti eager, images/s", "fastest DeiT-Ti, images/s",
                         "fastest / fastest", "eager / fastest", f"Vim-Ti GB ({metric}, leanest)",
                         f"DeiT-Ti GB ({metric}, leanest)", "memory saving"], body, "rlllrrllr")]
    return "\n".join(lines)


def _ips_config(images_per_s, config: str) -> str:
    return f"{fmt_ips(images_per_s)} ({config})" if config else "-"


def verdict_text(cells: list, gpu: str, metric: str) -> str:
    """The verdict table's key lines for the console (report.md has the table with its notes)."""
    v = verdict_mod
    lines = [f"Verdict: Vim-Ti {claims_mod.SPEED_CLAIM:g}x faster, {100 * claims_mod.MEMORY_CLAIM:.1f}% less memory "
             f"than DeiT-Ti at {claims_mod.CLAIM_RESOLUTION} px? ({gpu}, memory {metric})"]
    for batch, precision in dict.fromkeys((c.batch, c.precision) for c in cells):
        group = [c for c in cells if (c.batch, c.precision) == (batch, precision)]
        off_claim = not {c.resolution for c in group} & set(v.VERDICT_RESOLUTIONS)
        lines.append(f"  batch {batch}, {precision}"
                     + (" (not the claim's resolution: a comparison only)" if off_claim else ""))
        for c in group:
            if c.vim_note:
                if c.deit == v.DEIT_EAGER:  # one line for the two columns of a missing Vim-Ti
                    lines.append(f"    {c.resolution} px  {c.vim}: {claims_mod.NOT_MEASURED} ({c.vim_note})")
                continue
            vim = f"{c.vim} ({c.vim_variant}, {c.vim_exec_mode})"
            deit = c.deit + (f" ({c.deit_variant}, {c.deit_exec_mode})" if c.deit_variant else "")
            speed = _console_value(fmt_ratio(c.speed_ratio), c.speed_verdict)
            memory = _console_value(fmt_pct(c.memory_saving), c.memory_verdict)
            lines.append(f"    {c.resolution} px  {vim} vs {deit}: speed {speed}, memory {memory}")
    return "\n".join(lines)


def _console_value(value: str, verdict: str) -> str:
    return verdict if verdict == claims_mod.NOT_MEASURED else f"{value} {verdict}"


def _paper_at(paper) -> str:
    """The paper's Figure 1 ratio and saving at the verdict resolutions (read off the figure)."""
    parts = []
    for resolution in verdict_mod.VERDICT_RESOLUTIONS:
        at = paper[paper["resolution"] == resolution].iloc[0]
        saving = ("DeiT-Ti OOM" if at["deit_ti_oom"] else
                  f"{fmt_pct(1 - at['vim_ti_gb'] / at['deit_ti_gb'])} memory saving")
        parts.append(f"{resolution} px {fmt_ratio(at['vim_ti_fps'] / at['deit_ti_fps'])}, {saving}")
    return "the paper's Figure 1: " + "; ".join(parts)


def _vim_config_text(c) -> str:
    if c.vim_note:
        return f"**{claims_mod.NOT_MEASURED}**: {c.vim_note}"
    memory = f"{fmt_gb(c.vim_mem_bytes, '-')} GB" + (f" (leanest: {c.vim_mem_config})" if c.vim_mem_config else "")
    return f"{c.vim_variant}, {c.vim_exec_mode}: {fmt_ips(c.vim_images_per_s, '-')} images/s, {memory}"


def _verdict_cell_text(c) -> str:
    """Speed and memory lines with verdict and basis, then the DeiT-Ti cell used (<br> between)."""
    lines = []
    if c.vim_note:
        lines.append(f"speed, memory: **{claims_mod.NOT_MEASURED}** (no Vim-Ti cell: see its configuration)")
    elif c.speed_basis == c.memory_basis == verdict_mod.NOT_MEASURED and c.speed_note == c.memory_note:
        lines.append(f"speed, memory: **{claims_mod.NOT_MEASURED}** ({c.speed_note})")
    else:
        lines.append(_value_line("speed", fmt_ratio(c.speed_ratio), c.speed_verdict, c.speed_basis, c.speed_note))
        lines.append(_value_line("memory", fmt_pct(c.memory_saving), c.memory_verdict, c.memory_basis,
                                 c.memory_note))
    if c.deit_variant:
        name = verdict_mod.config_name(c.deit_variant, c.deit_exec_mode, c.deit_attention_backend)
        speed, memory = f"{fmt_ips(c.deit_images_per_s, '-')} images/s", f"{fmt_gb(c.deit_mem_bytes, '-')} GB"
        if c.deit_speed_basis not in (verdict_mod.MEASURED, verdict_mod.NOT_MEASURED):
            speed += f" (probe batch {c.deit_speed_batch}, derived)"
        if c.deit_memory_basis == verdict_mod.ESTIMATED:
            memory += f" ({verdict_mod.ESTIMATED})"
        if c.deit_mem_config:
            memory += f" (leanest: {c.deit_mem_config})"
        lines.append(f"DeiT-Ti {name}: {speed}, {memory}")
    return "<br>".join(lines)


def _value_line(claim: str, value: str, verdict: str, basis: str, note: str) -> str:
    if basis == verdict_mod.NOT_MEASURED:
        return f"{claim}: **{verdict}** ({note})"
    shown = verdict if "(" in verdict else f"{verdict} ({basis})"  # reproduced (measured) | (derived) | (estimated)
    return f"{claim} {value}: **{shown}**"


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


def _claim_measured(c) -> str:
    """A claim row's value, with its qualifier when the verdict carries one: '93.2% (estimated)'."""
    text = fmt_ratio(c.measured, "-") if c.claim == "speed" else fmt_pct(c.measured, "-")
    for qualifier in ("(estimated)", "(derived)"):
        if c.verdict.endswith(qualifier):
            text += f" {qualifier}"
    return text


def _claim_summary(c) -> str:
    if not c.vim_variant:
        return f"{c.verdict}: {c.basis}"
    value = fmt_ratio(c.measured) if c.claim == "speed" else fmt_pct(c.measured)
    where = f"(Vim {c.vim_variant}, {c.precision}, batch {c.batch}, {c.exec_mode})"
    if not value:  # not measured: say why (the first sentence of the basis)
        return f"{c.verdict}: {c.basis.split('. ')[0]} {where}"
    return f"{c.verdict}: {value} {where}"


def estimates_md(a: Analysis) -> str:
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
                f"{last_line(c.error)[:240]}"
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


def cells_md(rows) -> str:
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


def comparison_md(comparison, out_dir: Path, metric: str, analyses: list[Analysis]) -> str:
    base, other, matched, only_base, only_other = comparison
    column = MEMORY_METRICS[metric][0]
    stem = plots.compare_runs(matched, base.label, other.label, base.gpu_name, other.gpu_name, out_dir,
                              f"compare_{file_safe(other.label)}_vs_{file_safe(base.label)}")
    rows = []
    for r in matched.to_dict("records"):
        rows.append([r["series"], r["resolution"], r["batch"], r["precision"],
                     r["exec_mode"] + (", train" if r["mode"] == "train" else ""),
                     _status_or(r["status_base"], fmt_ips(r["images_per_s_base"])),
                     _status_or(r["status_other"], fmt_ips(r["images_per_s_other"])),
                     fmt_ratio(r["images_per_s_ratio"], "-"),
                     _status_or(r["status_base"], fmt_gb(r[f"{column}_base"], "-")),
                     _status_or(r["status_other"], fmt_gb(r[f"{column}_other"], "-")),
                     fmt_ratio(r[f"{column}_ratio"], "-")])
    claim_rows = []
    for order, a in enumerate(x for x in analyses if x.run.label in (base.label, other.label)):
        for c in a.claims:
            measured = _claim_measured(c)
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
        image_md(stem, "throughput ratio between runs"),
        "",
        "The claims in both runs (details in each run's section):",
        "",
        table(["claim", "DeiT-Ti attention", "Vim-Ti backend", "precision", "batch", "exec", "run", "card",
               "measured (derived)", "verdict"], claim_rows),
    ]
    return "\n".join(lines)


def last_line(message) -> str:
    """The last line of an error message (the exception), or 'no message'."""
    lines = message.strip().splitlines() if isinstance(message, str) else []
    return lines[-1] if lines else "no message"


def _status_or(status: str, text: str) -> str:
    return text if status == "ok" else ("OOM" if status == "oom" else status)


def image_md(stem: str, alt: str) -> str:
    """A plot as an inline PNG (relative link) with its SVG beside it."""
    return f"![{alt}]({stem}.png)\n\n([SVG]({stem}.svg))"
