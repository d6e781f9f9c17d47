"""Estimate the memory an out-of-memory cell would have needed, from smaller-batch probes.

When a cell OOMs, the harness (suite option `estimate_oom_batches`) measures the same cell
(model, variant, resolution, precision, exec_mode) at smaller batches and writes those rows
with purpose "oom_estimate".  Peak memory of inference grows linearly in the batch (weights
and workspace are fixed, activations scale with it), so we fit

    peak_bytes = a + b * batch        (ordinary least squares)

and evaluate it at the batch that ran out of memory.  The result is an extrapolation, never
a measurement: every table, plot and claim that uses it says "estimated".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vimbench.report.names import MEMORY_METRICS

PROBE_KEYS = ["model", "variant", "resolution", "precision", "exec_mode"]
NO_PROBES = "not estimated (no probe rows; add estimate_oom_batches to the suite)"


@dataclass(frozen=True)
class LineFit:
    intercept: float
    slope: float
    r2: float | None  # None when the values do not vary (R^2 undefined)


def fit_line(x: np.ndarray, y: np.ndarray) -> LineFit:
    """Least-squares y = intercept + slope * x, with the coefficient of determination."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    design = np.stack([np.ones_like(x), x], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, y, rcond=None)
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    ss_res = float(np.sum((y - (intercept + slope * x)) ** 2))
    r2 = None if ss_tot == 0.0 else 1.0 - ss_res / ss_tot
    return LineFit(float(intercept), float(slope), r2)


def estimate_oom_cells(frame):
    """One row per (OOM measure cell, memory metric): the estimate or why there is none.

    Columns: the cell's keys, `batch` (the batch that OOMed), metric, estimated_bytes
    (NaN when not estimated), status ("estimated" or a "not estimated (...)" reason),
    n_probes, probe_batches, intercept_bytes, slope_bytes_per_image, r2.
    """
    import pandas as pd

    measured = frame[(frame["purpose"] == "measure") & (frame["status"] == "oom")]
    probes = frame[frame["purpose"] == "oom_estimate"]
    out = []
    for _, cell in measured.iterrows():
        same = np.ones(len(probes), dtype=bool)
        for key in PROBE_KEYS:
            same &= (probes[key] == cell[key]).to_numpy()
        cell_probes = probes[same]
        for metric, (column, _) in MEMORY_METRICS.items():
            out.append({"run": cell["run"], **{k: cell[k] for k in PROBE_KEYS}, "batch": int(cell["batch"]),
                        "metric": metric, **_estimate_one(cell_probes, column, int(cell["batch"]))})
    columns = ["run", *PROBE_KEYS, "batch", "metric", "estimated_bytes", "status", "n_probes",
               "probe_batches", "intercept_bytes", "slope_bytes_per_image", "r2"]
    return pd.DataFrame(out, columns=columns)


def _estimate_one(probes, column: str, target_batch: int) -> dict:
    nan = float("nan")
    result = {"estimated_bytes": nan, "n_probes": 0, "probe_batches": "", "intercept_bytes": nan,
              "slope_bytes_per_image": nan, "r2": nan}
    if probes.empty:
        return {**result, "status": NO_PROBES}
    usable = probes[(probes["status"] == "ok") & probes[column].notna() & (probes["batch"] < target_batch)]
    usable = usable.sort_values("batch")
    batches = usable["batch"].to_numpy(dtype=np.float64)
    result["n_probes"] = len(usable)
    result["probe_batches"] = ", ".join(str(int(b)) for b in batches)
    if len(np.unique(batches)) < 2:
        return {**result, "status": f"not estimated (needs ok probes at 2+ batches below {target_batch}; "
                                    f"have {len(usable)} with this metric)"}
    fit = fit_line(batches, usable[column].to_numpy(dtype=np.float64))
    result.update(intercept_bytes=fit.intercept, slope_bytes_per_image=fit.slope,
                  r2=nan if fit.r2 is None else fit.r2)
    if fit.slope <= 0:
        return {**result, "status": "not estimated (memory does not grow with batch in the probes)"}
    return {**result, "estimated_bytes": fit.intercept + fit.slope * target_batch, "status": "estimated"}


def estimate_for(estimates, cell, metric: str):
    """The row of `estimates` (estimate_oom_cells) for one OOM cell and metric, or None.

    cell: anything indexable by the cell keys (a DataFrame row or a dict)."""
    same = estimates["metric"] == metric
    for key in (*PROBE_KEYS, "batch"):
        same &= estimates[key] == cell[key]
    hit = estimates[same]
    return None if hit.empty else hit.iloc[0]
