"""The report's training section: rows of mode "train", kept apart from inference.

A train row times one whole training step (vimbench/train_step.py: forward_features, a
mean-square loss of the token-mean features, backward, AdamW step), so its images/s is batch /
median step time and its peak memory covers one step (weights, gradients, AdamW's moments and
the activations autograd keeps).  The paper's claims are about inference: the verdict, the
claims and the Vim/DeiT ratios read inference rows only (build.py splits the run by mode).

A training suite often sizes the batch per resolution (suites/train.toml), so the tables show
each value with its batch, and the plots draw one line per model through each resolution's
largest batch that ran; a model run at several batches of one resolution also gets a
throughput-vs-batch plot.
"""

from __future__ import annotations

from pathlib import Path

from vimbench.modes import TRAIN
from vimbench.report import plots
from vimbench.report.estimate import estimate_for, estimate_oom_cells
from vimbench.report.markdown import fmt, fmt_gb, fmt_ips, fmt_pct, is_missing, table
from vimbench.report.names import MEMORY_METRICS, file_safe, series_label
from vimbench.report.sections import image_md
from vimbench.report.tables import measured_cells

GRAD_SCALER_INIT = 65536.0  # torch.amp.GradScaler's initial scale; below it, steps were skipped


def train_frame(frame):
    """The rows of mode train (measured cells and their OOM probes)."""
    return frame[frame["mode"] == TRAIN]


def training_md(frame, gpu: str, card_memory: int | None, metric: str, out_dir: Path, prefix: str,
                level: int) -> str | None:
    """The section for the train rows of one run's frame; None when it has none."""
    rows = train_frame(frame)
    if rows.empty or not (rows["purpose"] == "measure").any():
        return None
    cells = measured_cells(rows)
    estimates = estimate_oom_cells(rows)
    colors = plots.series_colors(list(cells["series"]))
    column = MEMORY_METRICS[metric][0]
    heading = "#" * level
    parts = [
        f"{heading} Training (mode train)",
        ("Each timed call is one training step: `forward_features`, the mean square of the token-mean features "
         "as the loss, backward, an AdamW step (zero_grad with set_to_none); amp-fp16 scales the loss. Images/s is "
         "batch / median step time; peak memory covers one whole step (weights, gradients, AdamW's two moments, "
         "the activations kept for backward). Kept apart from inference: the verdict, the claims and the "
         "Vim/DeiT ratios above use inference rows only."),
    ]
    for (precision, exec_mode), group in sorted(cells.groupby(["precision", "exec_mode"]), key=lambda kv: kv[0]):
        caption = f"**{precision}, {exec_mode}, training step** (value (batch))"
        stem = plots.train_vs_resolution(group, precision, exec_mode, gpu, card_memory, metric, estimates, colors,
                                         out_dir, f"{prefix}train_vs_resolution_{file_safe(precision)}_"
                                                  f"{file_safe(exec_mode)}")
        parts += [f"{heading}# Training throughput (images/s, measured)", caption,
                  _pivot(group, lambda r: _status_or(r, fmt_ips(r["images_per_s"], "-"))),
                  f"{heading}# Training peak memory (GB, {metric})", caption,
                  _pivot(group, lambda r: _mem_text(r, column, metric, estimates)),
                  image_md(stem, "training throughput and memory vs resolution")]
        several = _batch_sweeps(group)
        if not several.empty:
            batch_stem = plots.throughput_vs_batch(several.assign(probe=False), precision, f"{exec_mode}, train",
                                                   gpu, colors, out_dir,
                                                   f"{prefix}train_throughput_vs_batch_{file_safe(precision)}")
            parts += ["Throughput vs batch, at resolutions where a model trained at two or more batches:",
                      image_md(batch_stem, "training throughput vs batch")]
    parts += [f"{heading}# All training cells", _cells_md(rows)]
    notes = _notes(cells)
    if notes:
        parts += [f"{heading}# Training notes", "\n".join(f"- {n}" for n in notes)]
    return "\n\n".join(parts)


def _pivot(cells, text) -> str:
    """Rows: model (variant); columns: resolution; each value followed by its batch, several joined by '; '."""
    resolutions = sorted({int(r) for r in cells["resolution"]})
    rows = []
    for series in sorted(set(cells["series"])):
        row = [series]
        for res in resolutions:
            hits = cells[(cells["series"] == series) & (cells["resolution"] == res)].sort_values("batch")
            row.append("; ".join(f"{text(r)} (b{int(r['batch'])})" for _, r in hits.iterrows()) or "-")
        rows.append(row)
    return table(["model (variant)", *[f"{r} px" for r in resolutions]], rows, "l" + "r" * len(resolutions))


def _status_or(row, text: str) -> str:
    if row["status"] == "ok":
        return text
    return "OOM" if row["status"] == "oom" else row["status"]


def _mem_text(row, column: str, metric: str, estimates) -> str:
    if row["status"] == "oom":
        est = estimate_for(estimates, row, metric)
        if est is not None and est["status"] == "estimated":
            return f"OOM; {fmt_gb(est['estimated_bytes'])} estimated"
    return _status_or(row, fmt_gb(row[column], "-"))


def _batch_sweeps(cells):
    """The cells at (series, resolution) pairs that ran at two or more batches."""
    counts = cells.groupby(["series", "resolution"])["batch"].transform("nunique")
    return cells[counts >= 2]


def _cells_md(rows) -> str:
    out = []
    for r in rows.sort_values(["precision", "model", "variant", "resolution", "batch", "purpose"],
                              kind="stable").itertuples(index=False):
        out.append([series_label(r.model, r.variant), r.resolution, r.batch, r.precision,
                    r.purpose if r.purpose != "measure" else "", "OOM" if r.status == "oom" else r.status,
                    fmt_ips(r.images_per_s, "-"), fmt(r.latency_ms_median, ".2f", "-"), fmt_pct(r.latency_cv, "-"),
                    fmt_gb(r.mem_max_allocated_bytes, "-"), fmt_gb(r.mem_max_reserved_bytes, "-"),
                    fmt(r.train_loss, ".4g", "-"),
                    fmt(None if is_missing(r.train_params_with_grad) else r.train_params_with_grad / 1e6, ".2f", "-"),
                    fmt_gb(r.train_optimizer_state_bytes, "-"), fmt(r.train_loss_scale, ".0f", "-")])
    return table(["model (variant)", "px", "batch", "precision", "purpose", "status", "images/s", "median step ms",
                  "CV", "allocated GB", "reserved GB", "first loss", "trained params (M)", "AdamW state GB",
                  "loss scale"], out, "lrrllrrrrrrrrrr")


def _notes(cells) -> list[str]:
    notes = []
    for r in cells[cells["status"] == "error"].itertuples(index=False):
        message = (r.error or "no message").strip().splitlines()[0]
        notes.append(f"error: {series_label(r.model, r.variant)} {r.resolution} px, batch {r.batch}, "
                     f"{r.precision}: {message[:400]}")
    scaled = cells[cells["train_loss_scale"].notna()]
    skipped = scaled[scaled["train_loss_scale"].astype(float) < GRAD_SCALER_INIT]
    for r in skipped.itertuples(index=False):
        notes.append(f"{series_label(r.model, r.variant)} {r.resolution} px, batch {r.batch}: the GradScaler's scale "
                     f"fell to {r.train_loss_scale:g} (from {GRAD_SCALER_INIT:g}): some steps overflowed in fp16 and "
                     "skipped the optimizer update, so their time is not that of a full step.")
    return notes

