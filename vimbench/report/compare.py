"""Two runs side by side (e.g. two cards or two commits): the same cells, with ratios.

The first run given is the base; each ratio is other / base (derived).  Only measure rows
take part; cells present in one run only are counted, not compared.
"""

from __future__ import annotations

from vimbench.report.load import CELL_KEYS, ReportError, Run
from vimbench.report.names import MEMORY_METRICS
from vimbench.report.tables import measured_cells

_VALUES = ["status", "images_per_s", "latency_ms_median", *[c for c, _ in MEMORY_METRICS.values()]]


def match_runs(base: Run, other: Run):
    """Cells in both runs, one row each: base_* and other_* values and other/base ratios.

    Raises ReportError when the runs share no cell (nothing to compare).
    """
    a = measured_cells(base.frame)
    b = measured_cells(other.frame)
    merged = a[CELL_KEYS + ["series", "tokens"] + _VALUES].merge(
        b[CELL_KEYS + _VALUES], on=CELL_KEYS, how="inner", suffixes=("_base", "_other"))
    if merged.empty:
        raise ReportError(f"no common cells to compare between {base.path} and {other.path} "
                          f"(a cell is model, variant, resolution, batch, precision, exec_mode, mode); "
                          f"base has {len(a)} measured cells, the other {len(b)}")
    for column in ["images_per_s", "latency_ms_median", *[c for c, _ in MEMORY_METRICS.values()]]:
        both_ok = (merged["status_base"] == "ok") & (merged["status_other"] == "ok")
        ratio = merged[f"{column}_other"].astype(float) / merged[f"{column}_base"].astype(float)
        merged[f"{column}_ratio"] = ratio.where(both_ok)
    merged = merged.sort_values(["precision", "exec_mode", "batch", "model", "variant", "resolution"],
                                kind="stable").reset_index(drop=True)
    only_base = len(a) - len(merged)
    only_other = len(b) - len(merged)
    return merged, only_base, only_other
