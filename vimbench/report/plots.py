"""Figures (matplotlib, Agg; PNG + SVG) for one run, Figure-1 style.

Conventions a reader can rely on: solid lines and filled markers are measured; hollow
markers joined by dotted lines are *estimated* (OOM cells, extrapolated from probes);
dashed grey/black lines are the paper's Figure 1; a red cross marks an OOM cell and
"ERR" a failed one.  Every title names the card; every axis has its unit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vimbench.report.names import GB, MEMORY_METRICS, series_label

# Fixed so that the same inputs give byte-identical files.
_RC = {"svg.hashsalt": "vimbench-report", "font.size": 9, "axes.grid": True, "grid.alpha": 0.3}
_PNG_META = {"Software": None}
_SVG_META = {"Date": None, "Creator": None}
_DPI = 120
_PAPER_STYLE = {"DeiT": {"color": "0.45", "marker": "s"}, "Vim": {"color": "black", "marker": "o"}}
_OOM_COLOR = "tab:red"


def series_colors(labels: list[str]) -> dict[str, str]:
    """A stable colour per series: DeiT kernels in blues/greens, Vim backends in oranges/reds/purples,
    timm baselines (labels ending '(timm)') in greys and muted tones."""
    palettes = {"deit": ["tab:blue", "tab:cyan", "tab:green", "tab:olive"],
                "vim": ["tab:orange", "tab:purple", "tab:brown", "tab:pink", "tab:red"],
                "timm": ["tab:gray", "teal", "darkgoldenrod", "slateblue", "darkkhaki", "rosybrown"]}
    colors, used = {}, dict.fromkeys(palettes, 0)
    for label in sorted(set(labels)):
        group = "deit" if label.startswith("DeiT") else "timm" if label.endswith("(timm)") else "vim"
        colors[label] = palettes[group][used[group] % len(palettes[group])]
        used[group] += 1
    return colors


def _figure(ncols: int = 1, nrows: int = 1, width: float = 7.0, height: float = 4.6):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _save(fig, out_dir: Path, stem: str) -> str:
    import matplotlib

    with matplotlib.rc_context(_RC):
        fig.savefig(out_dir / f"{stem}.png", dpi=_DPI, metadata=_PNG_META)
        fig.savefig(out_dir / f"{stem}.svg", metadata=_SVG_META)
    return stem


def _with_rc(func):
    """Build the figure under our rc settings (fonts, grid) without touching global state."""
    def wrapped(*args, **kwargs):
        import matplotlib

        with matplotlib.rc_context(_RC):
            return func(*args, **kwargs)
    wrapped.__name__ = func.__name__
    wrapped.__doc__ = func.__doc__
    return wrapped


def _condition_text(condition) -> str:
    batch, precision, exec_mode = condition
    return f"{precision}, batch {batch}, {exec_mode}"


def _resolution_axis(ax, cells) -> None:
    res_tokens = {}
    for r, t in zip(cells["resolution"], cells["tokens"]):
        if t is not None and not (isinstance(t, float) and np.isnan(t)):
            res_tokens[int(r)] = int(t)
        else:
            res_tokens.setdefault(int(r), None)
    ticks = sorted(res_tokens)
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{r}\n{res_tokens[r]} tok" if res_tokens[r] else str(r) for r in ticks])
    ax.set_xlabel("image side (px) and tokens per image")
    if ticks:
        span = max(ticks) - min(ticks) or 100
        ax.set_xlim(min(ticks) - 0.06 * span, max(ticks) + 0.06 * span)


def _mark_at_bottom(ax, x: float, text: str, color: str, slot: int, right_edge: bool) -> None:
    """A status label (OOM / ERR) under the curves, stacked by series so labels don't overlap."""
    from matplotlib.transforms import blended_transform_factory

    transform = blended_transform_factory(ax.transData, ax.transAxes)
    y = 0.04 + 0.06 * slot
    ax.plot([x], [y], marker="x", color=color, markersize=7, mew=2, transform=transform, linestyle="none")
    ax.text(x, y, f"{text} " if right_edge else f" {text}", color=color, transform=transform, va="center",
            ha="right" if right_edge else "left", fontsize=8, fontweight="bold")


def _outline_style(slot: int, count: int) -> dict:
    """Earlier series drawn thicker, so a later series with equal values leaves an outline visible."""
    rank = count - 1 - slot
    return {"linewidth": 1.5 + 0.4 * rank, "markersize": 5.0 + 0.8 * rank}


def _largest_probe(probes, cell):
    """The ok oom_estimate row of this cell with the largest batch (measured, smaller batch), or None."""
    if probes is None or probes.empty:
        return None
    same = probes[(probes["model"] == cell["model"]) & (probes["variant"] == cell["variant"])
                  & (probes["resolution"] == cell["resolution"]) & (probes["precision"] == cell["precision"])
                  & (probes["exec_mode"] == cell["exec_mode"]) & (probes["status"] == "ok")
                  & probes["images_per_s"].notna()]
    return None if same.empty else same.sort_values("batch", kind="stable").iloc[-1]


def _tiny(models) -> bool:
    """The paper's Figure 1 is DeiT-Ti vs Vim-Ti: overlay it only next to those models."""
    return bool(set(models) & {"deit_tiny", "vim_tiny"})


def _reserve_bottom(ax, values, log: bool, fraction: float = 0.25) -> None:
    """Lower the y axis so the data sit above a free strip where OOM / ERR labels go."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v) and (v > 0 or not log)], float)
    if values.size == 0:
        return
    lo, hi = values.min(), values.max()
    if log:
        lo, hi = np.log10(lo), np.log10(hi) + 0.05
        bottom = (lo - fraction * hi) / (1 - fraction) - 0.05
        ax.set_ylim(10 ** bottom, 10 ** hi)
    elif fraction > 0:
        hi = hi * 1.05 if hi > 0 else 1.0
        ax.set_ylim((lo - fraction * hi) / (1 - fraction), hi)


def _plain_log_labels(ax) -> None:
    from matplotlib.ticker import FuncFormatter

    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else ""))


def _paper_points(paper, resolutions):
    """The paper's Figure 1 rows inside the run's resolution range, or None when there are none."""
    if paper is None or len(resolutions) == 0:
        return None
    lo, hi = min(resolutions), max(resolutions)
    inside = paper[(paper["resolution"] >= lo) & (paper["resolution"] <= hi)]
    return inside if len(inside) else None


@_with_rc
def throughput_vs_resolution(cells, condition, gpu: str, paper, colors, out_dir: Path, stem: str,
                             probes=None) -> str:
    """images/s against resolution (log); an OOM cell shows its largest ok probe (smaller batch)."""
    fig, axes = _figure()
    ax = axes[0, 0]
    values = list(cells.loc[cells["status"] == "ok", "images_per_s"].astype(float))
    for slot, (label, group) in enumerate(sorted(cells.groupby("series"), key=lambda kv: kv[0])):
        group = group.sort_values("resolution")
        ok = group[group["status"] == "ok"]
        style = {"color": colors[label], "marker": "s" if label.startswith("DeiT") else "o",
                 **_outline_style(slot, cells["series"].nunique())}
        ax.plot(ok["resolution"], ok["images_per_s"], linestyle="-", label=f"{label}", **style)
        for _, bad in group[group["status"] != "ok"].iterrows():
            _mark_at_bottom(ax, bad["resolution"], "OOM" if bad["status"] == "oom" else "ERR", colors[label], slot,
                            bad["resolution"] == cells["resolution"].max())
            probe = _largest_probe(probes, bad) if bad["status"] == "oom" else None
            if probe is not None:
                ax.plot([bad["resolution"]], [probe["images_per_s"]], marker="D", markersize=6, linestyle="none",
                        color=colors[label], markerfacecolor="white", mew=1.5)
                ax.annotate(f"batch {int(probe['batch'])} probe", (bad["resolution"], probe["images_per_s"]),
                            textcoords="offset points", xytext=(-7, 0), ha="right", va="center", fontsize=7.5,
                            color=colors[label])
                values.append(float(probe["images_per_s"]))
    paper = _paper_points(paper, list(cells["resolution"])) if _tiny(cells["model"]) else None
    if paper is not None:
        for fam, column in (("DeiT", "deit_ti_fps"), ("Vim", "vim_ti_fps")):
            ax.plot(paper["resolution"], paper[column], linestyle="--", linewidth=1.2,
                    markerfacecolor="none", label=f"{fam}-Ti (paper, GPU/batch unstated)", **_PAPER_STYLE[fam])
            values += list(paper[column])
    ax.set_yscale("log")
    _reserve_bottom(ax, values, log=True, fraction=0.22 if (cells["status"] != "ok").any() else 0.0)
    _plain_log_labels(ax)
    ax.set_ylabel("throughput (images/s, log scale)")
    _resolution_axis(ax, cells)
    ax.set_title(f"Throughput vs resolution on {gpu}\n{_condition_text(condition)}; higher is better")
    ax.legend(fontsize=8, loc="best")
    return _save(fig, out_dir, stem)


@_with_rc
def memory_vs_resolution(cells, condition, gpu: str, card_memory: int | None, metric: str, estimates, paper,
                         colors, out_dir: Path, stem: str) -> str:
    column = MEMORY_METRICS[metric][0]
    fig, axes = _figure()
    ax = axes[0, 0]
    top_values, no_fit = [], []
    for slot, (label, group) in enumerate(sorted(cells.groupby("series"), key=lambda kv: kv[0])):
        group = group.sort_values("resolution")
        marker = "s" if label.startswith("DeiT") else "o"
        ok = group[(group["status"] == "ok") & group[column].notna()]
        xs, ys = list(ok["resolution"]), list(ok[column].astype(float) / GB)
        top_values += ys
        ax.plot(xs, ys, linestyle="-", marker=marker, color=colors[label], label=label,
                **_outline_style(slot, cells["series"].nunique()))
        for _, bad in group[group["status"] != "ok"].iterrows():
            est = _estimate_for(estimates, bad, metric)
            if est is not None:
                y = est / GB
                top_values.append(y)
                if xs:
                    ax.plot([xs[-1], bad["resolution"]], [ys[-1], y], linestyle=":", color=colors[label])
                ax.plot([bad["resolution"]], [y], marker=marker, markerfacecolor="none", markersize=9,
                        mew=1.8, color=colors[label], linestyle="none")
                ax.annotate(f"OOM, estimated\n{y:.1f} GB", (bad["resolution"], y), textcoords="offset points",
                            xytext=(-8, 6), ha="right", fontsize=7.5, color=colors[label],
                            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85})
            else:
                no_fit.append((bad["resolution"], "OOM" if bad["status"] == "oom" else "ERR", colors[label], slot))
    paper = _paper_points(paper, list(cells["resolution"])) if _tiny(cells["model"]) else None
    if paper is not None:
        fitted = paper[paper["deit_ti_oom"] == 0]
        ax.plot(fitted["resolution"], fitted["deit_ti_gb"], linestyle="--", linewidth=1.2, markerfacecolor="none",
                label="DeiT-Ti (paper; OOM at 1248)", **_PAPER_STYLE["DeiT"])
        ax.plot(paper["resolution"], paper["vim_ti_gb"], linestyle="--", linewidth=1.2, markerfacecolor="none",
                label="Vim-Ti (paper)", **_PAPER_STYLE["Vim"])
        top_values += list(paper["deit_ti_gb"].dropna()) + list(paper["vim_ti_gb"])
    if card_memory:
        y = card_memory / GB
        ax.axhline(y, color=_OOM_COLOR, linestyle="-.", linewidth=1.2,
                   label=f"card memory {y:.1f} GB ({gpu})")
        top_values.append(y)
    else:
        ax.text(0.01, 0.98, "card memory unknown (env.json has no total memory)", transform=ax.transAxes,
                va="top", fontsize=8, color=_OOM_COLOR)
    ax.set_ylim(0, 1.12 * max(top_values) if top_values else 1)
    for x, text, color, slot in no_fit:  # OOM without an estimate: drawn on the card line (needs more)
        if text == "OOM" and card_memory:
            ax.plot([x], [card_memory / GB], marker="x", markersize=9, mew=2.2, color=color, linestyle="none")
            ax.annotate("OOM (not estimated)", (x, card_memory / GB), textcoords="offset points",
                        xytext=(-6, 6 + 11 * slot), ha="right", fontsize=7.5, color=color, fontweight="bold")
        else:
            _mark_at_bottom(ax, x, text, color, slot, x == cells["resolution"].max())
    ax.set_ylabel(f"peak memory (GB = 1e9 bytes), {metric}")
    _resolution_axis(ax, cells)
    ax.set_title(f"Peak GPU memory vs resolution on {gpu}\n{_condition_text(condition)}; "
                 f"metric: {metric}; lower is better", fontsize=9)
    ax.legend(fontsize=7.5, loc="upper left")
    return _save(fig, out_dir, stem)


def _estimate_for(estimates, cell, metric: str) -> float | None:
    hit = estimates[(estimates["metric"] == metric) & (estimates["status"] == "estimated")
                    & (estimates["model"] == cell["model"]) & (estimates["variant"] == cell["variant"])
                    & (estimates["resolution"] == cell["resolution"]) & (estimates["batch"] == cell["batch"])
                    & (estimates["precision"] == cell["precision"]) & (estimates["exec_mode"] == cell["exec_mode"])]
    return None if hit.empty else float(hit["estimated_bytes"].iloc[0])


@_with_rc
def ratios_vs_resolution(ratios, condition, gpu: str, metric: str, paper, claims: tuple[float, float, int],
                         out_dir: Path, stem: str) -> str:
    """Two panels: Vim/DeiT speed ratio, and memory saving, against resolution; one legend below both.

    Pairs drawn earlier get thicker lines and bigger markers, so pairs with equal values
    (two Vim backends with the same memory) stay visible as an outline under the later one.
    """
    from matplotlib.lines import Line2D

    speed_claim, memory_claim, claim_resolution = claims
    fig, axes = _figure(ncols=2, width=11.5, height=6.2)
    ax_speed, ax_mem = axes[0]
    has_value = ratios["speed_ratio"].notna() | ratios[f"saving_{metric}"].notna()
    ratios = ratios[has_value]
    pair_labels = sorted({_pair_label(r) for r in ratios.itertuples(index=False)})
    colors = dict(zip(pair_labels, _pair_palette(len(pair_labels))))
    resolutions = sorted({int(r) for r in ratios["resolution"]})
    handles, speed_values, speed_marks, any_estimate = [], [], [], False
    for slot, label in enumerate(pair_labels):
        style = {"color": colors[label], "marker": "o", **_outline_style(slot, len(pair_labels))}
        group = ratios[[_pair_label(r) == label for r in ratios.itertuples(index=False)]].sort_values("resolution")
        speed = group[group["speed_ratio"].notna()]
        ax_speed.plot(speed["resolution"], speed["speed_ratio"], **style)
        handles.append(Line2D([], [], label=label, **style))
        speed_values += list(speed["speed_ratio"])
        for r in group[group["speed_ratio"].isna()].itertuples(index=False):
            who = "DeiT" if r.deit_status != "ok" else "Vim"
            status = r.deit_status if r.deit_status != "ok" else r.vim_status
            speed_marks.append((r.resolution, f"{who} {'OOM' if status == 'oom' else 'ERR'}", colors[label], slot))
        saving = group[f"saving_{metric}"] * 100
        source = group[f"deit_mem_{metric}_source"]
        measured = group[(source == "measured") & saving.notna()]
        ax_mem.plot(measured["resolution"], measured[f"saving_{metric}"] * 100, **style)
        est = group[(source == "estimated") & saving.notna()]
        if not est.empty:
            any_estimate = True
            if not measured.empty:
                last = measured.iloc[-1]
                ax_mem.plot([last["resolution"], est["resolution"].iloc[0]],
                            [last[f"saving_{metric}"] * 100, est[f"saving_{metric}"].iloc[0] * 100],
                            linestyle=":", color=colors[label], linewidth=style["linewidth"])
            ax_mem.plot(est["resolution"], est[f"saving_{metric}"] * 100, marker="o", markerfacecolor="none",
                        markersize=style["markersize"] + 5, mew=2.0, linestyle="none", color=colors[label], zorder=5)
    if any_estimate:
        handles.append(Line2D([], [], marker="o", markerfacecolor="none", markersize=10, mew=2.0, color="0.35",
                              linestyle=":", label="hollow: DeiT memory estimated (DeiT OOM)"))
    paper = _paper_points(paper, resolutions) if _tiny(ratios["vim_model"]) else None
    paper_style = {"linestyle": "--", "color": "0.3", "marker": "^", "markerfacecolor": "none"}
    if paper is not None:
        ax_speed.plot(paper["resolution"], paper["vim_ti_fps"] / paper["deit_ti_fps"], **paper_style)
        fitted = paper[paper["deit_ti_oom"] == 0]
        ax_mem.plot(fitted["resolution"], 100 * (1 - fitted["vim_ti_gb"] / fitted["deit_ti_gb"]), **paper_style)
        handles.append(Line2D([], [], label="paper Figure 1, Vim-Ti / DeiT-Ti (derived)", **paper_style))
    if paper is not None and claim_resolution in resolutions:
        star = {"marker": "*", "markersize": 11, "color": "gold", "mec": "black", "linestyle": "none"}
        ax_speed.plot([claim_resolution], [speed_claim], zorder=3, **star)
        ax_mem.plot([claim_resolution], [100 * memory_claim], zorder=3, **star)
        speed_values.append(speed_claim)
        handles.append(Line2D([], [], label=f"paper claim at {claim_resolution} px: {speed_claim:g}x, "
                                            f"{100 * memory_claim:.1f}%", **star))
    ax_speed.axhline(1.0, color="black", linewidth=0.8)
    ax_speed.set_yscale("log")  # 2x faster and 2x slower sit the same distance from 1
    _plain_log_labels(ax_speed)
    if paper is not None:
        speed_values += list(paper["vim_ti_fps"] / paper["deit_ti_fps"])
    _reserve_bottom(ax_speed, [*speed_values, 1.0], log=True, fraction=0.2 if speed_marks else 0.0)
    for x, text, color, slot in speed_marks:
        _mark_at_bottom(ax_speed, x, text, color, slot, x == max(resolutions))
    ax_speed.set_ylabel("speed ratio: Vim images/s / DeiT images/s (x, log scale)")
    ax_speed.set_title("Speed ratio (above 1: Vim faster)")
    ax_mem.set_ylabel(f"memory saving: 1 - Vim / DeiT peak memory (%), {metric}")
    ax_mem.set_title("Memory saving (above 0: Vim uses less)")
    if not ratios[f"saving_{metric}"].notna().any():
        ax_mem.text(0.5, 0.5, f"no {metric} memory values in this run", transform=ax_mem.transAxes,
                    ha="center", va="center", fontsize=10, color="0.3")
        ax_mem.set_yticks([])
    else:
        ax_mem.axhline(0.0, color="black", linewidth=0.8)
    for ax in (ax_speed, ax_mem):
        ax.set_xticks(resolutions)
        ax.set_xlabel("image side (px)")
        if resolutions:
            span = max(resolutions) - min(resolutions) or 100
            ax.set_xlim(min(resolutions) - 0.06 * span, max(resolutions) + 0.06 * span)
    if handles:
        fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=8)
    fig.suptitle(f"Vim vs DeiT on {gpu}, {_condition_text(condition)} (derived from measured values)")
    return _save(fig, out_dir, stem)


def _pair_label(r) -> str:
    deit = series_label(r.deit_model, r.deit_variant)
    if r.deit_exec_mode != r.exec_mode:
        deit = f"{deit[:-1]}, {r.deit_exec_mode})" if deit.endswith(")") else f"{deit} ({r.deit_exec_mode})"
    return f"{series_label(r.vim_model, r.vim_variant)} / {deit}"


def _pair_palette(n: int) -> list[str]:
    base = ["tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink", "tab:olive", "tab:cyan"]
    return [base[i % len(base)] for i in range(n)]


@_with_rc
def throughput_vs_batch(cells, precision: str, exec_mode: str, gpu: str, colors, out_dir: Path, stem: str) -> str:
    """One panel per resolution; x = batch (log2), y = images/s.  Rows with `probe` True are OOM probes."""
    resolutions = sorted({int(r) for r in cells["resolution"]})
    ncols = min(3, len(resolutions))
    nrows = (len(resolutions) + ncols - 1) // ncols
    fig, axes = _figure(ncols=ncols, nrows=nrows, width=max(6.5, 4.2 * ncols), height=3.6 * nrows + 0.8)
    for i, res in enumerate(resolutions):
        ax = axes[i // ncols, i % ncols]
        at = cells[cells["resolution"] == res]
        for slot, (label, group) in enumerate(sorted(at.groupby("series"), key=lambda kv: kv[0])):
            group = group.sort_values("batch")
            is_probe = group["probe"].astype(bool) if "probe" in group else group["batch"] < 0
            ok = group[(group["status"] == "ok") & ~is_probe]
            ax.plot(ok["batch"], ok["images_per_s"], marker="s" if label.startswith("DeiT") else "o",
                    color=colors[label], label=label)
            probes = group[is_probe]
            if not probes.empty:  # smaller-batch runs of an OOM cell: measured, drawn apart
                ax.plot(probes["batch"], probes["images_per_s"], marker="D", markerfacecolor="white", mew=1.5,
                        linestyle="--", color=colors[label], label=f"{label}, OOM probes")
            group = group[~is_probe]
            for _, bad in group[group["status"] != "ok"].iterrows():
                _mark_at_bottom(ax, bad["batch"], "OOM" if bad["status"] == "oom" else "ERR", colors[label], slot,
                                bad["batch"] == at["batch"].max())
        ax.set_yscale("log")
        _plain_log_labels(ax)
        _reserve_bottom(ax, list(at.loc[at["status"] == "ok", "images_per_s"].astype(float)), log=True,
                        fraction=0.2 if (at["status"] != "ok").any() else 0.0)
        ax.set_xscale("log", base=2)
        batches = sorted({int(b) for b in at["batch"]})
        ax.set_xticks(batches)
        ax.set_xticklabels([str(b) for b in batches])
        ax.set_xlabel("batch size (images)")
        ax.set_ylabel("images/s (log scale)")
        ax.set_title(f"{res} px")
        ax.legend(fontsize=7)
    for j in range(len(resolutions), nrows * ncols):
        axes[j // ncols, j % ncols].set_visible(False)
    fig.suptitle(f"Throughput vs batch size on {gpu}\n{precision}, {exec_mode}; higher is better")
    return _save(fig, out_dir, stem)


@_with_rc
def compare_runs(matched, base_label: str, other_label: str, base_gpu: str, other_gpu: str,
                 out_dir: Path, stem: str) -> str:
    """Throughput ratio other/base per series against resolution, one line per series and condition."""
    fig, axes = _figure(width=7.5)
    ax = axes[0, 0]
    colors = series_colors(list(matched["series"]))
    # a training step and a forward of the same cell are two lines ("eager, train" beside "eager")
    matched = matched.assign(exec_mode=[e + (", train" if m == "train" else "")
                                        for e, m in zip(matched["exec_mode"], matched["mode"])])
    keys = sorted({(s, int(b), p, e) for s, b, p, e in
                   zip(matched["series"], matched["batch"], matched["precision"], matched["exec_mode"])})
    styles = ["-", "--", ":", "-."]
    conds = sorted({k[1:] for k in keys})
    for series, batch, precision, exec_mode in keys:
        group = matched[(matched["series"] == series) & (matched["batch"] == batch)
                        & (matched["precision"] == precision) & (matched["exec_mode"] == exec_mode)]
        group = group[group["images_per_s_ratio"].notna()].sort_values("resolution")
        ax.plot(group["resolution"], group["images_per_s_ratio"], marker="s" if series.startswith("DeiT") else "o",
                color=colors[series], linestyle=styles[conds.index((batch, precision, exec_mode)) % len(styles)],
                label=f"{series}, {precision}, batch {batch}, {exec_mode}")
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(sorted({int(r) for r in matched["resolution"]}))
    ax.set_xlabel("image side (px)")
    ax.set_ylabel(f"throughput ratio: {other_label} / {base_label} (x)")
    ax.set_title(f"Throughput of {other_label} ({other_gpu}) over {base_label} ({base_gpu})\n"
                 f"above 1: {other_label} faster; derived from measured images/s")
    ax.legend(fontsize=7)
    return _save(fig, out_dir, stem)


@_with_rc
def train_vs_resolution(cells, precision: str, exec_mode: str, gpu: str, card_memory: int | None, metric: str,
                        estimates, colors, out_dir: Path, stem: str) -> str:
    """Training steps: images/s (log, left) and peak memory (right) against resolution.

    A training suite may size the batch per resolution: each model's line runs through the
    largest batch that ran at each resolution, labelled with it.  OOM / ERR where none ran; an
    OOM cell with an estimate is a hollow marker (estimated), as in the inference plots."""
    column = MEMORY_METRICS[metric][0]
    fig, axes = _figure(ncols=2, width=11.0)
    speed, memory = axes[0, 0], axes[0, 1]
    speeds, memories = [], []
    count = cells["series"].nunique()
    for slot, (label, group) in enumerate(sorted(cells.groupby("series"), key=lambda kv: kv[0])):
        style = {"color": colors[label], "marker": "s" if label.startswith("DeiT") else "o",
                 **_outline_style(slot, count)}
        ok = group[group["status"] == "ok"].sort_values(["resolution", "batch"]).groupby("resolution").tail(1)
        speed.plot(ok["resolution"], ok["images_per_s"], linestyle="-", label=label, **style)
        with_memory = ok[ok[column].notna()]
        memory.plot(with_memory["resolution"], with_memory[column].astype(float) / GB, linestyle="-", label=label,
                    **style)
        speeds += list(ok["images_per_s"].astype(float))
        memories += list(with_memory[column].astype(float) / GB)
        for _, cell in ok.iterrows():
            speed.annotate(f"b{int(cell['batch'])}", (cell["resolution"], cell["images_per_s"]),
                           textcoords="offset points", xytext=(4, 4), fontsize=7, color=colors[label])
        failed = sorted(set(group["resolution"]) - set(ok["resolution"]))
        for res in failed:
            bad = group[group["resolution"] == res].sort_values("batch").iloc[-1]
            text = "OOM" if bad["status"] == "oom" else "ERR"
            _mark_at_bottom(speed, res, text, colors[label], slot, res == cells["resolution"].max())
            est = _estimate_for(estimates, bad, metric) if bad["status"] == "oom" else None
            if est is not None:
                memory.plot([res], [est / GB], marker=style["marker"], markerfacecolor="none", markersize=9, mew=1.8,
                            color=colors[label], linestyle="none")
                memory.annotate(f"OOM b{int(bad['batch'])}, estimated\n{est / GB:.1f} GB", (res, est / GB),
                                textcoords="offset points", xytext=(-8, 6), ha="right", fontsize=7.5,
                                color=colors[label])
                memories.append(est / GB)
            else:
                _mark_at_bottom(memory, res, text, colors[label], slot, res == cells["resolution"].max())
    speed.set_yscale("log")
    _reserve_bottom(speed, speeds, log=True, fraction=0.22 if (cells["status"] != "ok").any() else 0.0)
    _plain_log_labels(speed)
    speed.set_ylabel("training throughput (images/s, log scale)")
    speed.set_title("Throughput: batch / median step time; higher is better")
    if card_memory:
        memory.axhline(card_memory / GB, color=_OOM_COLOR, linestyle="-.", linewidth=1.2,
                       label=f"card memory {card_memory / GB:.1f} GB")
        memories.append(card_memory / GB)
    memory.set_ylim(0, 1.12 * max(memories) if memories else 1)
    memory.set_ylabel(f"peak memory of one step (GB = 1e9 bytes), {metric}")
    memory.set_title("Peak memory of a training step; lower is better")
    for ax in (speed, memory):
        _resolution_axis(ax, cells)
        ax.legend(fontsize=7.5, loc="best")
    fig.suptitle(f"Training (forward, backward, AdamW step) on {gpu}\n{precision}, {exec_mode}; "
                 "each point at the largest batch that ran (labelled)")
    return _save(fig, out_dir, stem)
