"""The result row: one per benchmark cell, appended to `results.jsonl` as it finishes.

A run directory holds `results.jsonl` (append-only, one JSON object a line, flushed and
fsynced after each row), `suite.toml` (a copy of the suite) and `env.json`.  A line that
does not parse (a run killed mid-write) is reported by `read_rows` and treated as not done,
so `--resume` re-runs that cell rather than dropping or double-counting it.

Units are in the field names: `_ms`, `_bytes`, `_s`, `_w`, `_j`.  Memory claims say which
metric they use: `mem_max_allocated_bytes` (live tensors, torch), `mem_max_reserved_bytes`
(caching allocator), `mem_nvml_process_bytes` (what nvidia-smi shows, CUDA context included).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
RESULTS_FILE = "results.jsonl"

STATUS_OK = "ok"
STATUS_OOM = "oom"
STATUS_ERROR = "error"
STATUSES = (STATUS_OK, STATUS_OOM, STATUS_ERROR)


@dataclass
class Row:
    # --- what was measured (the cell) ---
    cell_id: str                      # stable key of the cell's parameters, used by --resume
    suite: str
    model: str                        # registry name, e.g. "deit_tiny", "vim_tiny"
    variant: str                      # DeiT: attention variant ("eager" | "sdpa" | "sdpa-flash" ...); Vim: scan backend
    resolution: int                   # image side in pixels
    batch: int
    precision: str                    # fp32 | tf32 | amp-fp16 | amp-bf16 | fp16 | bf16
    exec_mode: str = "eager"          # eager | cuda_graph | compile
    # infer (forward only) | train (one training step per timed call; modes.py).  Rows written
    # before this field existed read as "infer", which is what they measured.
    mode: str = "infer"
    purpose: str = "measure"          # "measure" | "oom_estimate" (smaller-batch probe of an OOM cell)
    repeat: int = 0                   # index of this measurement when a suite repeats every cell
    tokens: int | None = None         # sequence length the model sees (patches + cls)
    attention: str | None = None      # DeiT attention variant, None for Vim
    # The attention that ran: "explicit softmax" (eager) or the SDPA backend, "flash" | "cudnn"
    # | "efficient" | "math" (forced by an sdpa-* variant, or seen in one profiled call for
    # "sdpa"; "a+b" if it saw several, "unknown" if it saw none); None for Vim and in rows
    # written before this field existed.
    attention_backend: str | None = None
    scan_backend: str | None = None   # Vim scan backend actually used, None for DeiT
    params: int | None = None
    # --- outcome ---
    status: str = STATUS_OK           # ok | oom | error
    error: str | None = None
    # --- timing (CUDA events on GPU, perf_counter on CPU) ---
    timer: str | None = None          # "cuda_event" | "perf_counter"
    n_samples: int | None = None
    samples_ms: list[float] = field(default_factory=list)
    latency_ms_median: float | None = None
    latency_ms_p10: float | None = None
    latency_ms_p90: float | None = None
    latency_cv: float | None = None   # std / mean of samples
    high_cv: bool | None = None       # latency_cv > 5%: the median is not to be trusted alone
    images_per_s: float | None = None  # batch / median latency
    first_call_ms: float | None = None
    warmup_iters: int | None = None
    warmup_s: float | None = None
    compile_s: float | None = None    # torch.compile / graph capture time, when used
    # --- memory (own pass) ---
    mem_max_allocated_bytes: int | None = None
    mem_max_reserved_bytes: int | None = None
    mem_nvml_process_bytes: int | None = None
    mem_nvml_source: str | None = None  # "nvml_process" | "nvml_device_used" (per-process figure not visible)
    mem_weights_bytes: int | None = None
    # cuda_graph: peak allocated while capturing, where the graph's activations are allocated
    # (replays allocate none), with one input held (the graph's own buffer); mem_max_allocated_bytes
    # is the larger of it and the replay's peak.  Rows without it (written before) either missed
    # the activations or held the input twice: report.load leaves their allocated figure out.
    mem_graph_capture_peak_bytes: int | None = None
    # --- training (mode "train" only; train_step.py) ---
    train_loss: float | None = None   # the first step's loss (checked finite)
    train_params_with_grad: int | None = None  # parameter elements the loss reached (the optimizer skips the rest)
    train_optimizer: str | None = None
    train_optimizer_state_bytes: int | None = None  # AdamW's moments, part of every step's memory
    train_loss_scale: float | None = None  # amp-fp16's GradScaler scale after timing; < 65536: steps were skipped
    # --- energy and telemetry (NVML) ---
    energy_j_per_image: float | None = None
    images_per_joule: float | None = None
    energy_source: str | None = None  # "nvml_energy_counter" | "integrated_power_samples"
    telemetry_before: dict[str, Any] = field(default_factory=dict)
    telemetry_after: dict[str, Any] = field(default_factory=dict)
    telemetry_during: dict[str, Any] = field(default_factory=dict)  # sampled over the timed loop
    throttled: bool | None = None
    # --- conditions ---
    device: str | None = None         # "cuda" | "cpu"
    gpu_name: str | None = None
    gpu_index: int | None = None      # host GPU index the cell was pinned to (--gpus); None: not pinned
    tf32: bool | None = None
    param_dtype: str | None = None    # dtype of weights and inputs
    autocast_dtype: str | None = None # autocast target, None when autocast is off
    torch_version: str | None = None
    triton_version: str | None = None
    timm_version: str | None = None
    git_commit: str | None = None
    hostname: str | None = None
    started_at: str | None = None     # ISO 8601, UTC
    duration_s: float | None = None
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Row:
        version = data.get("schema_version")
        if version != SCHEMA_VERSION:
            raise SchemaError(f"row has schema_version {version!r}; this vimbench reads {SCHEMA_VERSION}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


ROW_FIELDS = tuple(f.name for f in dataclasses.fields(Row))


class SchemaError(ValueError):
    """Results written by an incompatible vimbench."""


@dataclass
class ReadResult:
    rows: list[Row]
    torn_lines: list[int]  # 1-based line numbers that did not parse (killed mid-write)


def append_row(path: str | os.PathLike, row: Row) -> None:
    """Append one row and make it durable before returning (a crash loses at most this row)."""
    path = Path(path)
    line = json.dumps(row.to_dict(), sort_keys=True, allow_nan=True) + "\n"
    # If a previous writer died mid-line, start on a fresh line so this row stays parseable.
    needs_newline = path.exists() and path.stat().st_size > 0 and not _ends_with_newline(path)
    with open(path, "a", encoding="utf-8") as fh:
        if needs_newline:
            fh.write("\n")
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"


def read_rows(path: str | os.PathLike) -> ReadResult:
    """Read every complete row; report (not raise on) lines torn by a killed writer."""
    path = Path(path)
    rows: list[Row] = []
    torn: list[int] = []
    if not path.exists():
        return ReadResult(rows, torn)
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError:
                torn.append(number)
                continue
            rows.append(Row.from_dict(data))
    return ReadResult(rows, torn)


def rows_to_frame(rows: Iterable[Row]):
    """Rows as a pandas DataFrame (one column per Row field)."""
    import pandas as pd

    return pd.DataFrame([r.to_dict() for r in rows], columns=list(ROW_FIELDS))
