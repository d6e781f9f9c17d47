"""Read run directories (results.jsonl, env.json, suite.toml) into one table per run.

Every problem a user can fix (missing directory, no rows, incompatible schema) raises
`ReportError` with one message naming the file; the command turns it into exit code 2.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vimbench.results import RESULTS_FILE, SCHEMA_VERSION, SchemaError, read_rows, rows_to_frame

# What makes two rows the same measurement; a later duplicate (a re-run) replaces an earlier one.
# `mode` keeps a training step and a forward of the same cell apart (rows from before it read "infer").
CELL_KEYS = ["model", "variant", "resolution", "batch", "precision", "exec_mode", "mode"]
ROW_KEYS = CELL_KEYS + ["purpose", "repeat"]

# env.json is written by the harness; these are the places its total GPU memory may live (bytes).
_TOTAL_MEMORY_KEYS = ("gpu_total_memory_bytes", "total_memory_bytes", "memory_total_bytes", "total_memory")


class ReportError(Exception):
    """A problem with the inputs that the user can fix; the message says which and how."""


@dataclass
class Run:
    path: Path
    label: str
    frame: Any                      # pandas DataFrame, one row per kept results row
    env: dict[str, Any]
    suite_text: str | None
    suite_name: str | None
    torn_lines: list[int] = field(default_factory=list)
    duplicates_dropped: int = 0
    combined_from: list[Path] = field(default_factory=list)  # set when several runs are pooled (--combine)
    graph_memory_dropped: int = 0   # cuda_graph rows whose allocated memory undercounts (see _drop_...)
    selection: dict[str, Any] = field(default_factory=dict)  # run.json's `only` (a sweep restricted by --only)

    @property
    def gpu_name(self) -> str:
        names = [n for n in self.frame["gpu_name"].dropna() if n]
        if names:
            return Counter(names).most_common(1)[0][0]
        found = _find_key(self.env, ("gpu_name",)) or _find_gpu_entry_name(self.env)
        if found:
            return str(found)
        devices = set(self.frame["device"].dropna())
        return "CPU" if devices == {"cpu"} else "unknown GPU"

    @property
    def gpu_total_memory(self) -> tuple[int | None, str | None]:
        """(bytes, where it came from in env.json), or (None, None) when env.json does not say."""
        for key in _TOTAL_MEMORY_KEYS:
            value, where = _find_key_with_path(self.env, key)
            if isinstance(value, (int, float)) and value > 2**20:  # bytes, not MiB or GiB
                return int(value), where
        return None, None

    @property
    def commits(self) -> list[str]:
        return sorted({c for c in self.frame["git_commit"].dropna() if c})


def find_latest_run(runs_root: Path) -> Path:
    """The newest directory under `runs_root` holding a results file (by mtime, then name)."""
    if not runs_root.is_dir():
        raise ReportError(f"no run directory given and {runs_root}/ does not exist; "
                          "pass RUN_DIR or run `vimbench run --suite ...` first")
    candidates = [p.parent for p in runs_root.rglob(RESULTS_FILE)]
    if not candidates:
        raise ReportError(f"no run directory given and none under {runs_root}/ holds {RESULTS_FILE}")
    return max(candidates, key=lambda d: ((d / RESULTS_FILE).stat().st_mtime, str(d)))


def load_run(path: Path, label: str) -> Run:
    if not path.exists():
        raise ReportError(f"run directory {path} does not exist")
    if not path.is_dir():
        raise ReportError(f"{path} is not a directory; pass a run directory (it holds {RESULTS_FILE})")
    results = path / RESULTS_FILE
    if not results.exists():
        raise ReportError(f"run directory {path} has no {RESULTS_FILE}; is it a vimbench run directory?")
    try:
        read = read_rows(results)
    except SchemaError as exc:
        raise ReportError(f"{results}: {exc}; report it with the vimbench version that wrote it") from None
    except TypeError as exc:  # a row missing required fields: not written by this schema
        raise ReportError(f"{results}: a row does not match schema_version {SCHEMA_VERSION} ({exc})") from None
    if not read.rows:
        torn = f" ({len(read.torn_lines)} torn lines)" if read.torn_lines else ""
        raise ReportError(f"run directory {path} has no result rows in {RESULTS_FILE}{torn}")

    frame = rows_to_frame(read.rows)
    before = len(frame)
    frame = frame.drop_duplicates(subset=ROW_KEYS, keep="last").reset_index(drop=True)
    frame.insert(0, "run", label)
    graph_memory_dropped = _drop_undercounted_graph_memory(frame)

    env = _read_json(path / "env.json")
    only = _read_json(path / "run.json").get("only")
    suite_text = (path / "suite.toml").read_text(encoding="utf-8") if (path / "suite.toml").exists() else None
    return Run(path=path, label=label, frame=frame, env=env, suite_text=suite_text,
               suite_name=_suite_name(suite_text, frame), torn_lines=read.torn_lines,
               duplicates_dropped=before - len(frame), selection=only if isinstance(only, dict) else {},
               graph_memory_dropped=graph_memory_dropped)


def _drop_undercounted_graph_memory(frame) -> int:
    """Blank the allocated peak of CUDA-graph rows written before the harness measured a graph right.

    A graph's activations are allocated while it is captured and stay in its private pool, so a
    peak taken over replays sees only weights, input and output (an official Vim-Ti at 1248 px:
    5.19 GB in a graph against 10.07 GB eager); the first fix counted the capture but held the
    input twice (the graph's buffer and the eager one: +2.4 GB at 1248 px, batch 128, fp32 input).
    Neither has `mem_graph_capture_peak_bytes` (the first fix wrote it under another name);
    their reserved and NVML figures include the pool and stay.  Returns how many rows were blanked.
    """
    stale = ((frame["exec_mode"] == "cuda_graph") & (frame["device"] == "cuda")
             & frame["mem_graph_capture_peak_bytes"].isna() & frame["mem_max_allocated_bytes"].notna())
    frame.loc[stale, "mem_max_allocated_bytes"] = float("nan")
    frame["graph_memory_undercounted"] = stale
    return int(stale.sum())


def of_mode(run: Run, mode: str) -> Run:
    """The run with only its rows of `mode` ("infer" | "train"): inference and training are reported apart."""
    return replace(run, frame=run.frame[run.frame["mode"] == mode].reset_index(drop=True))


def load_runs(paths: list[Path]) -> list[Run]:
    labels = _unique_labels(paths)
    return [load_run(p, label) for p, label in zip(paths, labels)]


def combine_runs(runs: list[Run]) -> Run:
    """Several run directories of one card as one run (e.g. a sweep split by model).

    Rows are pooled; a cell present in several runs keeps the one from the run given last.
    Runs from different cards are refused, judged by every row's card (a run resumed on another
    card counts as both): their ratios would mix machines.
    """
    import pandas as pd

    cards = {r.path: sorted({r.gpu_name} | {n for n in r.frame["gpu_name"].dropna() if n}) for r in runs}
    if len({name for names in cards.values() for name in names}) > 1:
        raise ReportError("cannot combine runs from different cards (" + "; ".join(
            f"{path}: {', '.join(names)}" for path, names in cards.items())
            + "); give them without --combine to compare them")
    label = "+".join(r.label for r in runs)
    frame = pd.concat([r.frame for r in runs], ignore_index=True)
    before = len(frame)
    frame = frame.drop_duplicates(subset=ROW_KEYS, keep="last").reset_index(drop=True)
    frame["run"] = label
    env = next((r.env for r in runs if r.env), {})
    return Run(path=runs[0].path, label=label, frame=frame, env=env,
               suite_text=runs[0].suite_text, suite_name=", ".join(sorted({r.suite_name or "unknown" for r in runs})),
               torn_lines=[n for r in runs for n in r.torn_lines],
               duplicates_dropped=sum(r.duplicates_dropped for r in runs) + before - len(frame),
               combined_from=[r.path for r in runs],
               graph_memory_dropped=int(frame["graph_memory_undercounted"].sum()))


def _unique_labels(paths: list[Path]) -> list[str]:
    """Directory names, made unique with the parent's name (then an index) when they clash."""
    labels = [p.resolve().name or str(p) for p in paths]
    for i, p in enumerate(paths):
        if labels.count(labels[i]) > 1:
            labels[i] = f"{p.resolve().parent.name}-{p.resolve().name}"
    seen: Counter[str] = Counter()
    out = []
    for label in labels:
        seen[label] += 1
        out.append(label if seen[label] == 1 else f"{label}-{seen[label]}")
    return out


def _read_json(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path} is not valid JSON ({exc})") from None
    return data if isinstance(data, dict) else {}


def _suite_name(suite_text: str | None, frame) -> str | None:
    names = sorted({s for s in frame["suite"].dropna() if s})
    if names:
        return ", ".join(names)
    if suite_text:
        try:
            return tomllib.loads(suite_text).get("name")
        except tomllib.TOMLDecodeError:
            return None
    return None


def _find_key_with_path(data: Any, key: str, where: str = "") -> tuple[Any, str | None]:
    """Depth-first search for `key` in nested dicts/lists; returns (value, dotted path)."""
    if isinstance(data, dict):
        if key in data:
            return data[key], f"{where}{key}"
        for k in sorted(data, key=str):
            value, path = _find_key_with_path(data[k], key, f"{where}{k}.")
            if path is not None:
                return value, path
    elif isinstance(data, list):
        for i, item in enumerate(data[:1]):  # the first GPU is the one the run used
            value, path = _find_key_with_path(item, key, f"{where}{i}.")
            if path is not None:
                return value, path
    return None, None


def _find_key(data: Any, keys: tuple[str, ...]) -> Any:
    for key in keys:
        value, path = _find_key_with_path(data, key)
        if path is not None and value:
            return value
    return None


def _find_gpu_entry_name(env: dict[str, Any]) -> str | None:
    gpu = env.get("gpu") or env.get("gpus")
    if isinstance(gpu, list) and gpu:
        gpu = gpu[0]
    if isinstance(gpu, dict) and gpu.get("name"):
        return str(gpu["name"])
    return None
