"""Write a profile's results: `profile.md` plus CSV tables, beside the plots.

    summary.csv      one row per profiled cell: latency, shares, memory, telemetry, roofline
    categories.csv   one row per (cell, category): ms per forward, ms per image, share
    kernels.csv      the top kernels (operators on CPU) of each cell
    memory.csv       the parts of each cell's peak memory (GPU)
    telemetry.csv    the NVML samples of each cell's timed loop (GPU)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .categories import CATEGORIES, rule_table_markdown

KERNELS_PER_CELL_IN_CSV = 50


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return str(value)


def _gib(n: int | None) -> str:
    return "" if n is None else f"{n / 2**30:.2f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [str(c).replace("|", "\\|") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _target_columns(result) -> dict[str, Any]:
    t = result.target
    return {"cell": result.slug, "model": t["model"], "variant": t["variant"], "resolution": t["resolution"],
            "batch": t["batch"], "precision": t["precision"], "exec_mode": t["exec_mode"],
            "device": result.device, "gpu_name": result.gpu_name, "status": result.status}


def write_csvs(results, out_dir: Path) -> dict[str, Path]:
    import pandas as pd

    out_dir = Path(out_dir)
    paths = {}
    summary = [{**_target_columns(r), "tokens": r.tokens, "params": r.params, "error": r.error, **r.summary}
               for r in results]
    paths["summary"] = out_dir / "summary.csv"
    pd.DataFrame(summary).to_csv(paths["summary"], index=False)

    frames = []
    for r in results:
        if r.categories is None:
            continue
        frame = r.categories.copy()
        frame["ms_per_image"] = frame["ms_per_iter"] / r.target["batch"]
        frames.append(frame.assign(**{k: v for k, v in _target_columns(r).items()}))
    paths["categories"] = out_dir / "categories.csv"
    _concat(frames).to_csv(paths["categories"], index=False)

    frames = [r.kernels.head(KERNELS_PER_CELL_IN_CSV).assign(cell=r.slug) for r in results if r.kernels is not None]
    paths["kernels"] = out_dir / "kernels.csv"
    _concat(frames).to_csv(paths["kernels"], index=False)

    memory_rows = [{"cell": r.slug, "part": part, "bytes": n}
                   for r in results if r.memory is not None for part, n in r.memory.parts().items()]
    if memory_rows:
        paths["memory"] = out_dir / "memory.csv"
        pd.DataFrame(memory_rows).to_csv(paths["memory"], index=False)

    samples = [{"cell": r.slug, **s} for r in results for s in r.telemetry_samples]
    if samples:
        paths["telemetry"] = out_dir / "telemetry.csv"
        pd.DataFrame(samples).to_csv(paths["telemetry"], index=False)
    return paths


def _concat(frames):
    import pandas as pd

    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_markdown(results, out_dir: Path, command: str, plots: dict[str, Path], top_n: int) -> Path:
    out_dir = Path(out_dir)
    ok = [r for r in results if r.status == "ok"]
    lines = ["# vimbench profile", "", f"Command: `{command}`", ""]
    devices = sorted({r.gpu_name for r in results if r.gpu_name}) or sorted({r.device for r in results})
    lines += [f"Device: {', '.join(devices)}", ""]

    lines += ["## Cells", "", markdown_table(
        ["cell", "status", "tokens", "latency ms (median)", "images/s", "CV", "profiled ms/forward", "GPU busy"],
        [[r.label, r.status + (f": {r.error}" if r.error else ""), _fmt(r.tokens),
          _fmt(r.summary.get("latency_ms_median")), _fmt(r.summary.get("images_per_s")),
          _fmt(r.summary.get("latency_cv"), 2), _fmt(r.summary.get("profiled_ms_per_iter")),
          _fmt(r.summary.get("gpu_busy_fraction"), 2)] for r in results]), ""]
    time_kind = {r.summary.get("profiled_time") for r in ok} - {None}
    lines += [(f"Profiled time is {' / '.join(sorted(time_kind)) or 'n/a'}, averaged over the profiled forwards; "
               "GPU busy = kernel time / median latency (below 1: the GPU waits for the host)."), ""]

    if ok:
        lines += ["## Where the time goes (share of profiled time per category)", ""]
        header = ["cell"] + list(CATEGORIES.values())
        rows = []
        for r in ok:
            shares = dict(zip(r.categories["category"], r.categories["share"]))
            ms = dict(zip(r.categories["category"], r.categories["ms_per_iter"]))
            rows.append([r.label] + [f"{100 * shares[c]:.1f}% ({ms[c]:.3g} ms)" for c in CATEGORIES])
        lines += [markdown_table(header, rows), ""]
        if "categories" in plots:
            lines += [f"![categories]({plots['categories'].name})", ""]

        lines += [f"## Top {top_n} kernels per cell", ""]
        for r in ok:
            lines += [f"### {r.label}", "", markdown_table(
                ["kernel", "category", "calls/forward", "ms/forward", "share"],
                [[_short(k.kernel), k.category, _fmt(k.calls_per_iter), _fmt(k.ms_per_iter), f"{100 * k.share:.1f}%"]
                 for k in r.kernels.head(top_n).itertuples()]), ""]

    lines += ["## Memory (one forward, GPU)", ""]
    with_memory = [r for r in ok if r.memory is not None]
    if with_memory:
        parts = list(with_memory[0].memory.parts())
        lines += [markdown_table(["cell", "peak allocated GiB", "peak reserved GiB"] + [f"{p} GiB" for p in parts],
                                 [[r.label, _gib(r.memory.peak_allocated_bytes), _gib(r.memory.peak_reserved_bytes)]
                                  + [_gib(r.memory.parts().get(p)) for p in parts] for r in with_memory]), ""]
        lines += ["What holds the peak (live allocations at the peak of allocated memory, by source line):", ""]
        for r in with_memory:
            if r.memory.peak_holders:
                holders = "; ".join(f"`{where}` {_gib(n)} GiB" for where, n in r.memory.peak_holders[:4])
                lines.append(f"- {r.label}: {holders}")
        lines.append("")
        if "memory" in plots:
            lines += [f"![memory]({plots['memory'].name})", ""]
    else:
        lines += ["CUDA memory: not available on CPU." if all(r.device == "cpu" for r in results)
                  else "No memory measurement.", ""]

    lines += ["## Telemetry during the timed loop (NVML)", ""]
    with_power = [r for r in ok if r.summary.get("telemetry_samples")]
    if with_power:
        lines += [markdown_table(
            ["cell", "power W (mean)", "SM clock MHz (mean / min)", "temp C (max)", "throttle reasons",
             "energy J/image", "images/J", "energy source"],
            [[r.label, _fmt(r.summary.get("power_w_mean")),
              f"{_fmt(r.summary.get('sm_clock_mhz_mean'))} / {_fmt(r.summary.get('sm_clock_mhz_min'))}",
              _fmt(r.summary.get("temperature_c_max")), r.summary.get("throttle_reasons") or "none",
              _fmt(r.summary.get("energy_j_per_image")), _fmt(r.summary.get("images_per_joule")),
              r.summary.get("energy_source") or ""] for r in with_power]), ""]
        if "telemetry" in plots:
            lines += [f"![telemetry]({plots['telemetry'].name})", ""]
    else:
        lines += ["NVML telemetry: not available on CPU." if all(r.device == "cpu" for r in results)
                  else "NVML telemetry: no samples (see notes).", ""]

    with_roofline = [r for r in ok if "scan_achieved_gb_per_s" in r.summary]
    lines += ["## Scan roofline", ""]
    if with_roofline:
        lines += [markdown_table(
            ["cell", "scan ms/forward", "min bytes GB", "achieved GB/s", "copy ceiling GB/s", "of copy BW",
             "exp/s", "exp2 ceiling /s", "of exp2", "HBM floor ms", "exp floor ms"],
            [[r.label, _fmt(s["scan_ms_per_forward"]), _fmt(s["scan_min_bytes"] / 1e9), _fmt(s["scan_achieved_gb_per_s"]),
              _fmt(s["copy_ceiling_gb_per_s"]), f"{100 * s['scan_fraction_of_copy_bw']:.0f}%",
              f"{s['scan_exp_per_s']:.3g}", f"{s['exp2_ceiling_per_s']:.3g}",
              f"{100 * s['scan_fraction_of_exp2']:.0f}%", _fmt(s["scan_hbm_floor_ms"]), _fmt(s["scan_exp_floor_ms"])]
             for r in with_roofline for s in [r.summary]]), ""]
        lines += [("Minimum bytes: u, delta, z read, y written, B and C read once per direction (fused "
                   "bidirectional: 6E + 4N elements per token and layer, else 2 x (4E + 2N)); "
                   "exponentials: B x L x E x N per direction and layer. "
                   f"exp2 ceiling: {with_roofline[0].summary['exp2_ceiling_source']}."), ""]
        if "roofline" in plots:
            lines += [f"![roofline]({plots['roofline'].name})", ""]
    else:
        lines += ["No scan kernels profiled on a GPU (roofline needs a Vim model on CUDA).", ""]

    notes = sorted({n for r in results for n in r.notes if "Traceback" not in n})
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    errors = [(r.label, n) for r in results for n in r.notes if "Traceback" in n]
    for label, text in errors:
        lines += [f"<details><summary>{label}: traceback</summary>", "", "```", text, "```", "</details>", ""]
    lines += ["## Categorisation rules (first match wins)", "", rule_table_markdown(), ""]
    path = out_dir / "profile.md"
    path.write_text("\n".join(lines))
    return path


def _short(name: str, width: int = 90) -> str:
    name = name.replace("\n", " ")
    return name if len(name) <= width else name[: width - 3] + "..."
