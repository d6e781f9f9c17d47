"""Tables (pandas) built from one run's rows: cells, pivots and Vim/DeiT ratios.

Ratios are only taken inside one run (one card, one session); values from an OOM estimate
carry a "source" column saying "estimated" so they can never pass for measurements.
"""

from __future__ import annotations

import numpy as np

from vimbench.report.load import CELL_KEYS
from vimbench.report.names import MEMORY_METRICS, counterpart, family, series_label

CONDITION_KEYS = ["batch", "precision", "exec_mode"]

CELL_COLUMNS = [
    "run", "model", "variant", "resolution", "tokens", "batch", "precision", "exec_mode", "status",
    "images_per_s", "latency_ms_median", "latency_ms_p10", "latency_ms_p90", "latency_cv", "n_samples",
    "mem_max_allocated_bytes", "mem_max_reserved_bytes", "mem_nvml_process_bytes",
    "energy_j_per_image", "throttled", "gpu_name", "error",
]


# Values that are summarised by their median when a suite repeats a cell (suite option `repeats`).
REPEAT_MEDIAN_COLUMNS = [
    "images_per_s", "latency_ms_median", "latency_ms_p10", "latency_ms_p90", "latency_cv",
    "mem_max_allocated_bytes", "mem_max_reserved_bytes", "mem_nvml_process_bytes", "energy_j_per_image",
]


def measured_rows(frame):
    """Every measure row (probes excluded, repeats kept), sorted for reading, with a `series` column."""
    cells = frame[frame["purpose"] == "measure"].copy()
    cells["series"] = [series_label(m, v) for m, v in zip(cells["model"], cells["variant"])]
    return cells.sort_values(["precision", "exec_mode", "batch", "model", "variant", "resolution", "repeat"],
                             kind="stable").reset_index(drop=True)


def measured_cells(frame):
    """One row per cell.  A repeated cell gets the median of its ok repeats (derived) and
    `n_repeats` / `n_ok`; it is "ok" when any repeat ran, else the last repeat's status."""
    rows = measured_rows(frame)
    out = []
    for _, group in rows.groupby(CELL_KEYS, sort=False):
        ok = group[group["status"] == "ok"]
        cell = (ok if not ok.empty else group).iloc[-1].to_dict()
        cell["n_repeats"], cell["n_ok"] = len(group), len(ok)
        if len(ok) > 1:
            for column in REPEAT_MEDIAN_COLUMNS:
                values = ok[column].dropna().astype(float)
                cell[column] = float(values.median()) if len(values) else float("nan")
        out.append(cell)
    import pandas as pd

    return pd.DataFrame(out, columns=[*rows.columns, "n_repeats", "n_ok"]).reset_index(drop=True)


def conditions(cells) -> list[tuple[int, str, str]]:
    """Distinct (batch, precision, exec_mode) in the run, in a stable order."""
    keys = cells[CONDITION_KEYS].drop_duplicates().itertuples(index=False, name=None)
    return sorted(((int(b), str(p), str(e)) for b, p, e in keys), key=lambda c: (c[1], c[2], c[0]))


def at_condition(cells, condition: tuple[int, str, str]):
    batch, precision, exec_mode = condition
    return cells[(cells["batch"] == batch) & (cells["precision"] == precision) & (cells["exec_mode"] == exec_mode)]


def estimate_lookup(estimates, metric: str) -> dict[tuple, float]:
    """(model, variant, resolution, batch, precision, exec_mode) -> estimated bytes, for one metric."""
    ok = estimates[(estimates["metric"] == metric) & (estimates["status"] == "estimated")]
    return {(r.model, r.variant, int(r.resolution), int(r.batch), r.precision, r.exec_mode): float(r.estimated_bytes)
            for r in ok.itertuples(index=False)}


def ratio_table(cells, estimates):
    """Vim vs same-size DeiT, one row per (Vim variant, DeiT variant, resolution, condition).

    The DeiT runs in the Vim row's exec mode, or eager when the run has no DeiT in that mode
    (`deit_exec_mode` says which).

    speed_ratio = Vim images/s / DeiT images/s (derived).  saving_<metric> = 1 - Vim / DeiT
    peak memory (derived); `deit_mem_<metric>_source` is "measured" or "estimated" (DeiT OOM,
    extrapolated from probes) or empty (no value); `deit_mem_<metric>_estimate` is the OOM
    estimate's status ("estimated" or why not) for an OOM DeiT cell, else empty.
    """
    import pandas as pd

    lookups = {m: estimate_lookup(estimates, m) for m in MEMORY_METRICS}
    notes = {(r.model, r.variant, int(r.resolution), int(r.batch), r.precision, r.exec_mode, r.metric): r.status
             for r in estimates.itertuples(index=False)}
    rows = []
    vims = cells[[family(m) == "vim" for m in cells["model"]]]
    for vim in vims.itertuples(index=False):
        same = cells[(cells["model"] == counterpart(vim.model)) & (cells["resolution"] == vim.resolution)
                     & (cells["batch"] == vim.batch) & (cells["precision"] == vim.precision)]
        deits = same[same["exec_mode"] == vim.exec_mode]
        if deits.empty:  # e.g. Vim under CUDA graphs, DeiT only eager: compare with eager, and say so
            deits = same[same["exec_mode"] == "eager"]
        for deit in deits.itertuples(index=False):
            row = {
                "run": vim.run, "vim_model": vim.model, "vim_variant": vim.variant, "deit_model": deit.model,
                "deit_variant": deit.variant, "resolution": int(vim.resolution), "batch": int(vim.batch),
                "precision": vim.precision, "exec_mode": vim.exec_mode, "deit_exec_mode": deit.exec_mode,
                "vim_status": vim.status,
                "deit_status": deit.status, "vim_images_per_s": _ok(vim, "images_per_s"),
                "deit_images_per_s": _ok(deit, "images_per_s"),
            }
            row["speed_ratio"] = divide(row["vim_images_per_s"], row["deit_images_per_s"])
            key = (deit.model, deit.variant, int(deit.resolution), int(deit.batch), deit.precision, deit.exec_mode)
            for metric, (column, _) in MEMORY_METRICS.items():
                vim_mem = _ok(vim, column)
                deit_mem, source = _ok(deit, column), "measured"
                if np.isnan(deit_mem) and deit.status == "oom" and key in lookups[metric]:
                    deit_mem, source = lookups[metric][key], "estimated"
                if np.isnan(deit_mem):
                    source = ""
                row[f"vim_mem_{metric}"] = vim_mem
                row[f"deit_mem_{metric}"] = deit_mem
                row[f"deit_mem_{metric}_source"] = source
                row[f"saving_{metric}"] = 1.0 - divide(vim_mem, deit_mem)
                row[f"deit_mem_{metric}_estimate"] = notes.get((*key, metric), "")
            rows.append(row)
    columns = ["run", "vim_model", "vim_variant", "deit_model", "deit_variant", "resolution", "batch",
               "precision", "exec_mode", "deit_exec_mode", "vim_status", "deit_status", "vim_images_per_s", "deit_images_per_s",
               "speed_ratio"]
    for metric in MEMORY_METRICS:
        columns += [f"vim_mem_{metric}", f"deit_mem_{metric}", f"deit_mem_{metric}_source", f"saving_{metric}",
                    f"deit_mem_{metric}_estimate"]
    table = pd.DataFrame(rows, columns=columns)
    return table.sort_values(["precision", "exec_mode", "batch", "vim_model", "vim_variant", "deit_variant",
                              "resolution"], kind="stable").reset_index(drop=True)


def _ok(row, column: str) -> float:
    """A row's value, only when the cell ran (status ok); NaN otherwise."""
    value = getattr(row, column)
    if row.status != "ok" or value is None:
        return float("nan")
    return float(value)


def divide(a: float, b: float) -> float:
    """a / b, NaN when either is missing or b is zero (a ratio that cannot be taken)."""
    if np.isnan(a) or np.isnan(b) or b == 0:
        return float("nan")
    return a / b
