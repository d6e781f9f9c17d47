"""Read the two kinds of result file the gate compares into one shape.

- a vimbench run: `results.jsonl` (or the run directory holding it), one Row per cell;
  the benchmark key is the row's `cell_id`, the samples its `samples_ms`.
- pytest-benchmark JSON (`--benchmark-json FILE`, or a `--benchmark-save` file written
  with `--benchmark-save-data`): the key is the benchmark's `fullname`, the samples its
  `stats.data` (seconds per round, converted to ms).  Without `data` only the summary
  statistics are there; the gate then falls back to comparing interquartile ranges.

The card is the GPU name: a Row's `gpu_name`; for pytest-benchmark the benchmark's
`extra_info["gpu_name"]` (or `["gpu"]`), else the file's `machine_info["gpu_name"]` (our benchmark
conftest adds it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vimbench.compare.stats import median, quantile
from vimbench.results import RESULTS_FILE, STATUS_OK, SchemaError, read_rows

KIND_VIMBENCH = "vimbench-run"
KIND_PYTEST_BENCHMARK = "pytest-benchmark"


class SourceError(ValueError):
    """A result file that cannot be read as either kind (usage error, exit code 2)."""


@dataclass(frozen=True)
class Benchmark:
    key: str
    samples_ms: tuple[float, ...]  # may be empty when the file kept only summary stats
    median_ms: float
    q1_ms: float | None
    q3_ms: float | None
    card: str | None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class ResultSet:
    path: Path
    kind: str
    benchmarks: dict[str, Benchmark]
    skipped: dict[str, str]  # key -> why it has no timing (oom, error)
    notes: list[str]

    @property
    def cards(self) -> set[str]:
        return {b.card for b in self.benchmarks.values() if b.card}


def load(path: str | Path) -> ResultSet:
    """Load a vimbench run (directory or results.jsonl) or a pytest-benchmark JSON file."""
    path = Path(path)
    if path.is_dir():
        jsonl = path / RESULTS_FILE
        if not jsonl.exists():
            raise SourceError(f"{path} is a directory without {RESULTS_FILE}; pass a run directory or a file")
        return _load_vimbench(jsonl)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.suffix == ".jsonl":
        return _load_vimbench(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"{path}: not JSON ({exc}); expected pytest-benchmark JSON or a vimbench {RESULTS_FILE}"
        ) from exc
    if not isinstance(data, dict) or "benchmarks" not in data:
        raise SourceError(f"{path}: JSON without a 'benchmarks' list; not a pytest-benchmark file")
    return _from_pytest_benchmark(path, data)


def _load_vimbench(path: Path) -> ResultSet:
    try:
        read = read_rows(path)
    except SchemaError as exc:
        raise SourceError(f"{path}: {exc}") from exc
    benchmarks: dict[str, Benchmark] = {}
    skipped: dict[str, str] = {}
    notes = [f"{path}: ignored torn line(s) {read.torn_lines}"] if read.torn_lines else []
    for row in read.rows:
        if row.purpose != "measure":
            continue
        if row.status != STATUS_OK or not (row.samples_ms or row.latency_ms_median):
            skipped[row.cell_id] = row.status if row.status != STATUS_OK else "no samples"
            continue
        if row.cell_id in benchmarks:
            notes.append(f"{path}: cell {row.cell_id} appears more than once; the last row is used")
        samples = tuple(float(s) for s in row.samples_ms)
        benchmarks[row.cell_id] = Benchmark(
            key=row.cell_id,
            samples_ms=samples,
            median_ms=median(samples) if samples else float(row.latency_ms_median),
            q1_ms=quantile(samples, 0.25) if samples else None,
            q3_ms=quantile(samples, 0.75) if samples else None,
            card=row.gpu_name,
            extra={
                "model": row.model,
                "variant": row.variant,
                "resolution": row.resolution,
                "batch": row.batch,
                "precision": row.precision,
                "git_commit": row.git_commit,
            },
        )
        skipped.pop(row.cell_id, None)
    return ResultSet(path, KIND_VIMBENCH, benchmarks, skipped, notes)


def _from_pytest_benchmark(path: Path, data: dict[str, Any]) -> ResultSet:
    machine_card = (data.get("machine_info") or {}).get("gpu_name")
    benchmarks: dict[str, Benchmark] = {}
    skipped: dict[str, str] = {}
    notes: list[str] = []
    for entry in data["benchmarks"]:
        key = entry.get("fullname") or entry.get("name")
        stats = entry.get("stats")
        if not key or not isinstance(stats, dict):
            raise SourceError(f"{path}: a benchmark entry lacks 'fullname' or 'stats'")
        extra = dict(entry.get("extra_info") or {})
        card = extra.get("gpu_name") or extra.get("gpu") or machine_card
        samples = tuple(float(s) * 1e3 for s in stats.get("data") or ())
        if samples:
            med, q1, q3 = median(samples), quantile(samples, 0.25), quantile(samples, 0.75)
        elif "median" in stats:
            med = float(stats["median"]) * 1e3
            q1 = float(stats["q1"]) * 1e3 if "q1" in stats else None
            q3 = float(stats["q3"]) * 1e3 if "q3" in stats else None
        else:
            skipped[key] = "no samples and no median"
            continue
        benchmarks[key] = Benchmark(key, samples, med, q1, q3, card, extra)
    if benchmarks and not any(b.samples_ms for b in benchmarks.values()):
        notes.append(
            f"{path}: no raw samples (write it with --benchmark-json, or --benchmark-save-data); "
            "the noise test falls back to non-overlapping interquartile ranges"
        )
    return ResultSet(path, KIND_PYTEST_BENCHMARK, benchmarks, skipped, notes)
