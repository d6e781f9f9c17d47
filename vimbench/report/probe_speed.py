"""Speed where the batch does not fit: an OOM cell's throughput from its probes, under a flatness rule.

A cell that ran out of memory has no throughput at its batch.  Its OOM probes (the same
model, variant, resolution, precision and exec mode at smaller batches; purpose
"oom_estimate", see estimate.py) do.  Once the GPU is busy, per-image throughput of batch
inference stops growing with the batch; where the probes show it has stopped, the cell's
throughput is taken as that of its largest ok probe:

    rule: the two largest ok probe batches below the OOM batch give images/s within
          FLAT_TOLERANCE (3%) of each other  ->  images/s of the largest one,
          labelled "derived (probe batch N)"

Otherwise (not flat, or fewer than two ok probes) there is no throughput: "not measured",
with the reason.  Never silent: `text` says which batch was used and the flatness seen.
"""

from __future__ import annotations

from dataclasses import dataclass

from vimbench.report.estimate import PROBE_KEYS
from vimbench.report.markdown import fmt_ips
from vimbench.report.names import series_label

FLAT_TOLERANCE = 0.03  # relative difference of the two largest probes' images/s (to the smaller value)
NOT_MEASURED = "not measured"


@dataclass(frozen=True)
class ProbeSpeed:
    images_per_s: float   # NaN when the rule gives none
    batch: int | None     # the probe batch whose throughput is used (None when none is)
    flatness: float       # |ips(largest) - ips(second)| / min of the two; NaN with fewer than 2 probes
    text: str             # what was used and the flatness seen, or why there is no throughput

    @property
    def ok(self) -> bool:
        return self.batch is not None

    @property
    def basis(self) -> str:
        return f"derived (probe batch {self.batch})" if self.ok else NOT_MEASURED


def probe_throughput(probes, model: str, variant: str, resolution: int, precision: str, exec_mode: str,
                     oom_batch: int) -> ProbeSpeed:
    """The rule above for the cell (model, variant, resolution, precision, exec_mode) that ran
    out of memory at `oom_batch`.  `probes`: the run's rows with purpose "oom_estimate"
    (others are ignored too); probes at or above `oom_batch` are ignored, repeats of a probe
    batch give their median."""
    nan = float("nan")
    name = series_label(model, variant) + ("" if exec_mode == "eager" else f" under {exec_mode}")
    head = f"{name} OOM at batch {oom_batch}"
    keys = dict(zip(PROBE_KEYS, (model, variant, resolution, precision, exec_mode)))
    same = probes[probes["purpose"] == "oom_estimate"]
    for key, value in keys.items():
        same = same[same[key] == value]
    same = same[(same["status"] == "ok") & same["images_per_s"].notna() & (same["batch"] < oom_batch)]
    per_batch = same.groupby("batch")["images_per_s"].median().sort_index()
    if per_batch.empty:
        return ProbeSpeed(nan, None, nan, f"{head}; no ok OOM probe below that batch, so no throughput "
                                          "(suite option estimate_oom_batches measures probes)")
    if len(per_batch) == 1:
        only = int(per_batch.index[0])
        return ProbeSpeed(nan, None, nan, f"{head}; only one ok probe batch ({only}: "
                                          f"{fmt_ips(float(per_batch.iloc[0]))} images/s), and the rule needs two "
                                          "to see throughput flat in batch, so no throughput")
    (second, second_ips), (largest, largest_ips) = [(int(b), float(v)) for b, v in per_batch.iloc[-2:].items()]
    flatness = abs(largest_ips - second_ips) / min(largest_ips, second_ips)
    if flatness <= FLAT_TOLERANCE:
        return ProbeSpeed(largest_ips, largest, flatness,
                          f"{head}; throughput from its batch-{largest} probe ({fmt_ips(largest_ips)} images/s), "
                          f"flat within {100 * flatness:.1f}% of batch {second} ({fmt_ips(second_ips)})")
    return ProbeSpeed(nan, None, flatness,
                      f"{head}; its batch-{largest} probe ({fmt_ips(largest_ips)} images/s) and batch-{second} "
                      f"probe ({fmt_ips(second_ips)}) differ by {100 * flatness:.1f}%, more than the "
                      f"{100 * FLAT_TOLERANCE:g}% that would show throughput flat in batch, so no throughput")
