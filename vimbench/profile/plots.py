"""The profile's figures (matplotlib, Agg): where time goes, memory over a forward, telemetry.

    categories.png   stacked bars per cell: ms per image by category (top, one panel per
                     resolution so 224 and 1248 stay readable) and share (bottom)
    memory.png       allocated memory over one forward, one line per cell, with the peak
    telemetry.png    power and SM clock over the timed loop
    roofline.png     the scan's exponential rate against the copy-bandwidth and exp2 roofs
"""

from __future__ import annotations

from pathlib import Path

from .categories import CATEGORIES

_COLORS = {
    "scan": "#1b9e77", "causal_conv": "#66a61e", "gemm": "#7570b3", "attention": "#d95f02",
    "norm": "#e7298a", "elementwise": "#e6ab02", "memcpy": "#a6761d", "other": "#999999",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _short_label(result) -> str:
    t = result.target
    return f"{t['model']}\n{t['variant']} b{t['batch']}"


def plot_categories(results, path: Path, title: str) -> Path | None:
    ok = [r for r in results if r.status == "ok" and r.categories is not None]
    if not ok:
        return None
    plt = _pyplot()
    resolutions = sorted({r.target["resolution"] for r in ok})
    width = max(3.2, 1.3 * max(sum(r.target["resolution"] == res for r in ok) for res in resolutions))
    fig, axes = plt.subplots(2, len(resolutions), figsize=(width * len(resolutions) + 1.5, 8), squeeze=False)
    unit = "ms" if ok[0].device == "cuda" else "CPU ms"
    for col, res in enumerate(resolutions):
        group = [r for r in ok if r.target["resolution"] == res]
        x = range(len(group))
        for row, (key, scale, ylabel) in enumerate((("ms_per_iter", "per_image", f"{unit} per image"),
                                                     ("share", 100.0, "share of profiled time (%)"))):
            ax = axes[row][col]
            bottom = [0.0] * len(group)
            for category, label in CATEGORIES.items():
                values = []
                for r in group:
                    v = float(r.categories.set_index("category").loc[category, key])
                    values.append(v / r.target["batch"] if scale == "per_image" else v * scale)
                ax.bar(x, values, bottom=bottom, color=_COLORS[category],
                       label=label if (row, col) == (0, 0) else None, width=0.6)
                bottom = [b + v for b, v in zip(bottom, values)]
            if row == 0:
                for i, total in enumerate(bottom):
                    ax.text(i, total, f"{total:.3g}", ha="center", va="bottom", fontsize=8)
                ax.set_title(f"{res}x{res}")
                ax.set_ylim(0, max(bottom) * 1.12 if max(bottom) > 0 else 1)
            ax.set_xticks(list(x))
            ax.set_xticklabels([_short_label(r) for r in group], fontsize=8)
            if col == 0:
                ax.set_ylabel(ylabel)
    fig.legend(loc="lower center", ncol=4, fontsize=8, frameon=False)
    precisions = sorted({r.target["precision"] for r in ok})
    fig.suptitle(f"{title}, {', '.join(precisions)}")
    fig.tight_layout(rect=(0, 0.07, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_memory(results, path: Path, title: str) -> Path | None:
    with_timeline = [r for r in results if r.memory is not None and len(r.memory.timeline) > 1]
    if not with_timeline:
        return None
    plt = _pyplot()
    resolutions = sorted({r.target["resolution"] for r in with_timeline})
    fig, axes = plt.subplots(1, len(resolutions), figsize=(6.5 * len(resolutions), 4.8), squeeze=False)
    for ax, res in zip(axes[0], resolutions):
        for r in (r for r in with_timeline if r.target["resolution"] == res):
            steps = [i for i, _ in r.memory.timeline]
            span = max(steps[-1], 1)
            ax.plot([s / span for s in steps], [b / 2**30 for _, b in r.memory.timeline],
                    label=f"{_short_label(r).replace(chr(10), ' ')} (peak {r.memory.peak_allocated_bytes / 2**30:.2f})",
                    linewidth=1.2)
        ax.set_title(f"{res}x{res}")
        ax.set_xlabel("progress through one forward (allocator events, normalised)")
        ax.set_ylabel("allocated GiB")
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_telemetry(results, path: Path, title: str) -> Path | None:
    with_samples = [r for r in results if r.telemetry_samples]
    if not with_samples:
        return None
    plt = _pyplot()
    fig, (ax_power, ax_clock) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for r in with_samples:
        t = [s["t"] for s in r.telemetry_samples]
        ax_power.plot(t, [s["power_w"] for s in r.telemetry_samples], label=r.label, linewidth=1)
        ax_clock.plot(t, [s["sm_clock_mhz"] for s in r.telemetry_samples], linewidth=1)
    ax_power.set_ylabel("power (W)")
    ax_clock.set_ylabel("SM clock (MHz)")
    ax_clock.set_xlabel("time in the timed loop (s)")
    ax_power.legend(fontsize=7)
    ax_power.set_title(title)
    for ax in (ax_power, ax_clock):
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_roofline(results, path: Path, title: str) -> Path | None:
    """Exponentials per second against exponentials per byte of minimum traffic: the scan's
    point under the roof min(exp2 ceiling, intensity x copy bandwidth)."""
    points = [r for r in results if "scan_exp_per_s" in r.summary]
    if not points:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 5))
    s0 = points[0].summary
    copy_bw, exp_ceiling = s0["copy_ceiling_gb_per_s"] * 1e9, s0["exp2_ceiling_per_s"]
    intensities = [r.summary["scan_exponentials"] / r.summary["scan_min_bytes"] for r in points]
    lo, hi = min(intensities) / 8, max(intensities) * 8
    ridge = exp_ceiling / copy_bw
    xs = [lo, min(max(ridge, lo), hi), hi]
    ax.plot(xs, [min(exp_ceiling, x * copy_bw) for x in xs], color="black", linewidth=1.5,
            label=f"roof: {copy_bw / 1e12:.2f} TB/s copy, {exp_ceiling:.2e} exp2/s")
    for r, x in zip(points, intensities):
        ax.scatter([x], [r.summary["scan_exp_per_s"]], s=40, zorder=3,
                   label=f"{r.label}: {100 * r.summary['scan_fraction_of_exp2']:.0f}% of exp2, "
                         f"{100 * r.summary['scan_fraction_of_copy_bw']:.0f}% of copy BW")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("exponentials per byte of minimum traffic")
    ax.set_ylabel("exponentials per second")
    ax.set_title(title)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_plots(results, out_dir: Path) -> dict[str, Path]:
    devices = sorted({r.gpu_name for r in results if r.gpu_name}) or sorted({r.device for r in results})
    suffix = ", ".join(devices)
    made = {
        "categories": plot_categories(results, Path(out_dir) / "categories.png", f"Where the time goes ({suffix})"),
        "memory": plot_memory(results, Path(out_dir) / "memory.png", f"Allocated memory over one forward ({suffix})"),
        "telemetry": plot_telemetry(results, Path(out_dir) / "telemetry.png", f"NVML during the timed loop ({suffix})"),
        "roofline": plot_roofline(results, Path(out_dir) / "roofline.png", f"Selective scan roofline ({suffix})"),
    }
    return {k: v for k, v in made.items() if v is not None}
