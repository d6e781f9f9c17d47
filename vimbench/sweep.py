"""`vimbench run`: sweep a suite's cells, one row each, into a run directory.

    vimbench run --suite highres [--only model=deit_tiny] [--only resolution=512,1024]
    vimbench run --model vim_tiny:triton-fused --model deit_tiny:sdpa --resolution 1536 --batch 64
    vimbench run --suite highres --resolution 2048 --precision amp-bf16
    vimbench run --resume runs/20261126-170000-highres
    vimbench run --suite highres --gpus all     # one worker per GPU (--gpus 0,1 for some)

Axis flags (--model, --resolution, --batch, --precision, --exec-mode, --mode) make an ad-hoc suite
without --suite, or replace that axis of the suite given (axes.py); --only and --models
then select cells as usual.

A run directory `runs/<UTC timestamp>-<suite>/` holds `results.jsonl` (rows appended and
fsynced as cells finish), `suite.toml` (a copy of the suite as run), `run.json` (the
command's selection, so `--resume` continues the same sweep) and `env.json`.

Resume runs every cell that has no complete row.  Lines torn by a killed writer are moved
to `results.torn.jsonl` first (the file stays parseable line by line) and their cells
re-run: never dropped, never counted twice.  When a measured cell runs out of memory and
the suite sets `estimate_oom_batches`, the same cell is probed at those smaller batches
(rows with purpose "oom_estimate").

`--gpus` only changes how cells are launched (vimbench/launchers/), not what is recorded:
this process still appends every row, so a run may be resumed with or without it.

Exit codes: 0 every cell has a row (OOM is a result), 1 some cell ended in an error,
2 bad suite or arguments, 130 interrupted (resume it).
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from .axes import ADHOC_NAME, COMMAND_LINE, adhoc_suite_text, check_axes, given_axes, override_suite_text
from .results import RESULTS_FILE, STATUS_ERROR, STATUS_OK, STATUS_OOM, Row, append_row, read_rows
from .suite import PURPOSE_MEASURE, Cell, Suite, SuiteError, load_suite, load_suite_text, oom_probe_cells, parse_only

RUN_FILE = "run.json"
SUITE_COPY = "suite.toml"
ENV_FILE = "env.json"
TORN_FILE = "results.torn.jsonl"


def add_arguments(parser) -> None:
    parser.add_argument("--suite", help="built-in suite name (see `vimbench list`) or path to a .toml file")
    axes = parser.add_argument_group(
        "axes", "without --suite: an ad-hoc suite (needs --model, --resolution, --batch); with --suite: replace "
                "that axis in every entry. Repeatable, or comma-separated")
    axes.add_argument("--model", action="append", metavar="NAME[:VARIANT]",
                      help="e.g. vim_tiny:triton-fused, deit_tiny:sdpa, timm:resnet101 (default: its default variant)")
    axes.add_argument("--resolution", action="append", metavar="PX", help="image side in pixels")
    axes.add_argument("--batch", action="append", metavar="N", help="batch size")
    axes.add_argument("--precision", action="append", metavar="P",
                      help="fp32, tf32, amp-fp16, amp-bf16, fp16, bf16 (ad-hoc default: amp-fp16 with CUDA, else fp32)")
    axes.add_argument("--exec-mode", action="append", metavar="M",
                      help="eager (ad-hoc default), cuda_graph, compile[:MODE]")
    axes.add_argument("--mode", action="append", metavar="M",
                      help="infer (default: forward only) or train (a training step: forward, loss, backward, "
                           "AdamW; eager, fp32/amp-fp16/amp-bf16)")
    parser.add_argument("--resume", metavar="RUN_DIR", help="finish an interrupted run in RUN_DIR")
    parser.add_argument("--only", action="append", metavar="KEY=VALUE[,VALUE]",
                        help="run only matching cells; keys: model, variant, resolution, batch, precision, "
                             "exec_mode, mode (repeatable, all must match)")
    parser.add_argument("--models", metavar="NAME[,NAME]", help="shorthand for --only model=NAME[,NAME]")
    parser.add_argument("--repeats", type=int, help="measure every cell this many times (overrides the suite)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), help="override the suite's device")
    parser.add_argument("--inline", action="store_true", help="run cells in this process (debugging; no isolation)")
    parser.add_argument("--gpus", metavar="all|I[,I]",
                        help="spread cells over these GPUs of this host, one worker process per GPU "
                             "(CUDA_VISIBLE_DEVICES); rows record gpu_index. Also with --resume")
    parser.add_argument("--launcher", choices=("local", "ray"), default="local",
                        help="local: this host (one cell at a time, or --gpus); ray: num_gpus=1 Ray tasks "
                             "(pip install 'vimbench[ray]')")
    parser.add_argument("--address", help="with --launcher ray: the Ray cluster (default: start a local one)")
    parser.add_argument("--runs-dir", default="runs", help="where run directories are created (default: runs)")
    parser.add_argument("--dry-run", action="store_true", help="list the cells and exit")


def main(args) -> int:
    try:
        return _main(args)
    except SuiteError as exc:
        print(f"vimbench run: suite error: {exc}", file=sys.stderr)
        return 2


def _main(args) -> int:
    if args.repeats is not None and args.repeats < 1:
        raise SuiteError("(command line)", "--repeats", f"{args.repeats} is not a number of measurements",
                         "integers >= 1")
    axes = given_axes(args)
    if args.resume:
        if args.suite or args.only or args.models or args.repeats is not None or args.device or args.dry_run or axes:
            raise SuiteError("(command line)", "--resume", "continues a run with its recorded selection; "
                             "give no other selection arguments", "--resume RUN_DIR [--inline | --gpus all|I[,I]]")
        run_dir = Path(args.resume)
        if not (run_dir / RUN_FILE).is_file() or not (run_dir / SUITE_COPY).is_file():
            raise SuiteError(run_dir, "--resume", f"not a vimbench run directory (needs {RUN_FILE} and {SUITE_COPY})",
                             "a directory made by `vimbench run`")
        selection = json.loads((run_dir / RUN_FILE).read_text())
    else:
        if not args.suite and not axes:
            raise SuiteError("(command line)", "--suite", "give a suite, the axes of an ad-hoc run, or --resume RUN_DIR",
                             "a built-in suite name or a .toml path; or --model NAME[:VARIANT] --resolution PX --batch N")
        only = parse_only(args.only)
        if args.models:
            only.setdefault("model", set()).update(m.strip() for m in args.models.split(",") if m.strip())
        selection = {"suite": args.suite or ADHOC_NAME, "only": {k: sorted(v) for k, v in only.items()},
                     "repeats": args.repeats, "device": args.device, "inline": args.inline}
        if axes:
            selection["axes"] = axes
        run_dir = None

    only = {k: set(v) for k, v in selection["only"].items()}
    if run_dir is not None:
        suite = load_suite(run_dir / SUITE_COPY, only_models=only.get("model"), name=selection.get("suite_name"))
    elif axes:
        suite = _suite_from_axes(args, axes, only.get("model"))
    else:
        suite = load_suite(args.suite, only_models=only.get("model"))
    if selection.get("repeats") is not None:
        suite.repeats = selection["repeats"]
    if selection.get("device"):
        suite.device = selection["device"]
    if selection.get("inline") or args.inline:
        suite.isolation = "inline"
    cells = suite.cells(only)
    if not cells:
        raise SuiteError(suite.path, "--only", f"selects no cells of suite {suite.name!r}",
                         _selection_values(suite))
    device = _resolve_device(suite)
    launcher = _launcher(args, suite)

    if args.dry_run:
        for cell in cells:
            print(cell.cell_id)
        print(f"{len(cells)} cells on {device}", file=sys.stderr)
        for note in _train_error_notes(cells):
            print(note, file=sys.stderr)
        return 0

    from . import env as env_module

    if run_dir is None:
        run_dir = _new_run_dir(Path(args.runs_dir), suite.name)
        selection["suite_name"] = suite.name
        selection["created_at"] = datetime.now(UTC).isoformat(timespec="seconds")
        (run_dir / SUITE_COPY).write_text(suite.source, encoding="utf-8")
        (run_dir / RUN_FILE).write_text(json.dumps(selection, indent=2, sort_keys=True) + "\n")
        environment = env_module.collect()
        (run_dir / ENV_FILE).write_text(json.dumps(environment, indent=2, sort_keys=True) + "\n")
        print(f"vimbench run: suite {suite.name} ({len(cells)} cells on {device}) -> {run_dir}", file=sys.stderr)
    else:
        environment = json.loads((run_dir / ENV_FILE).read_text()) if (run_dir / ENV_FILE).is_file() \
            else env_module.collect()
        print(f"vimbench run: resuming {run_dir} (suite {suite.name})", file=sys.stderr)

    results = run_dir / RESULTS_FILE
    rows = _load_existing(results)
    return _sweep(suite, cells, device, run_dir, rows, _conditions(environment, device), launcher)


def _launcher(args, suite: Suite):
    """Sequential unless --gpus names GPUs; the launcher is not part of the recorded selection,
    so a run may be resumed with another one."""
    from .launchers.sequential import SequentialLauncher

    if args.launcher == "ray":
        if args.gpus or args.inline:
            raise SuiteError("(command line)", "--launcher", "ray places cells on its cluster's GPUs itself",
                             "--launcher ray [--address ADDR], without --gpus or --inline")
        from .launchers.ray_cluster import RayLauncher

        return RayLauncher(address=args.address, timeout_s=suite.cell_timeout_s)
    if args.address:
        raise SuiteError("(command line)", "--address", "only means something with --launcher ray",
                         "--launcher ray --address ADDR")
    if not args.gpus:
        return SequentialLauncher(inline=suite.isolation == "inline", timeout_s=suite.cell_timeout_s)
    from .gpus import select_gpus, visible_gpus
    from .launchers.local import LocalGpuLauncher

    if args.inline:
        raise SuiteError("(command line)", "--gpus", "pins a worker process per GPU; --inline runs in this process",
                         "one of --gpus, --inline")
    # A suite's `isolation = "inline"` gives way: pinning a cell to a GPU needs its own process.
    return LocalGpuLauncher(select_gpus(args.gpus, visible_gpus()), timeout_s=suite.cell_timeout_s)


def _suite_from_axes(args, axes: dict[str, list[str]], only_models: set[str] | None) -> Suite:
    """The ad-hoc suite, or the --suite with the given axes replaced (its text goes to suite.toml)."""
    from .suite import find_suite

    checked = check_axes(axes)
    command = " ".join(["vimbench run", *([f"--suite {args.suite}"] if args.suite else []),
                        *(f"{flag} {value}" for flag, values in axes.items() for value in values)])
    if args.suite:
        path = find_suite(args.suite)
        text = override_suite_text(path, path.read_text(encoding="utf-8"), checked, command)
        return load_suite_text(text, path, only_models)
    import torch

    cuda_visible = (args.device or "auto") != "cpu" and torch.cuda.is_available()
    return load_suite_text(adhoc_suite_text(checked, command, cuda_visible), COMMAND_LINE, only_models)


def _train_error_notes(cells: list[Cell]) -> list[str]:
    """For a dry run: the train cells that will be error rows (a variant without a backward pass)."""
    from .models import get_model_spec
    from .modes import TRAIN

    counts: dict[tuple[str, str], int] = {}
    for cell in cells:
        if cell.mode == TRAIN and get_model_spec(cell.model).train_blocker(cell.variant):
            counts[(cell.model, cell.variant)] = counts.get((cell.model, cell.variant), 0) + 1
    return [f"{n} train cell(s) of {model}:{variant} will be error rows: "
            f"{get_model_spec(model).train_blocker(variant)}" for (model, variant), n in counts.items()]


def _selection_values(suite: Suite) -> str:
    values: dict[str, set[str]] = {}
    for cell in suite.cells():
        for key in ("model", "variant", "resolution", "batch", "precision", "exec_mode", "mode"):
            values.setdefault(key, set()).add(cell.value(key))
    return "; ".join(f"{k}: {', '.join(sorted(v))}" for k, v in values.items())


def _resolve_device(suite: Suite) -> str:
    import torch

    if suite.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if suite.device == "cuda" and not torch.cuda.is_available():
        raise SuiteError(suite.path, "device", "cuda requested but no CUDA device is visible", "auto, cpu")
    return suite.device


def _new_run_dir(runs_dir: Path, suite_name: str) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    for n in range(100):
        path = runs_dir / (f"{stamp}-{suite_name}" + (f"-{n}" if n else ""))
        try:
            path.mkdir(parents=True)
            return path
        except FileExistsError:
            continue
    raise RuntimeError(f"cannot create a run directory under {runs_dir}")


def _load_existing(results: Path) -> list[Row]:
    """Complete rows so far; torn lines are moved aside (atomically) and reported."""
    read = read_rows(results)
    if read.torn_lines:
        lines = results.read_text(encoding="utf-8").splitlines(keepends=True)
        torn = [lines[n - 1] for n in read.torn_lines]
        with open(results.parent / TORN_FILE, "a", encoding="utf-8") as fh:
            fh.writelines(line if line.endswith("\n") else line + "\n" for line in torn)
        kept = [line for i, line in enumerate(lines, start=1) if i not in set(read.torn_lines)]
        tmp = results.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.writelines(line if line.endswith("\n") else line + "\n" for line in kept)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, results)
        print(f"vimbench run: {len(torn)} torn line(s) in {results} (line {', '.join(map(str, read.torn_lines))}) "
              f"moved to {TORN_FILE}; their cells will be re-run", file=sys.stderr)
    return read.rows


def _conditions(environment: dict, device: str) -> dict:
    versions = environment.get("versions", {})
    gpu = environment.get("gpu", {})
    return {
        "gpu_name": gpu.get("name") if device == "cuda" else None,
        "torch_version": versions.get("torch"),
        "triton_version": versions.get("triton"),
        "timm_version": versions.get("timm"),
        "git_commit": environment.get("git_commit"),
        "hostname": environment.get("hostname"),
    }


def _sweep(suite: Suite, cells: list[Cell], device: str, run_dir: Path, rows: list[Row], conditions: dict,
           launcher) -> int:
    from .runner import CellJob

    done = {row.cell_id for row in rows}
    queue = list(cells)
    # Probes of OOM cells measured before an interruption are part of the plan too.
    for row in rows:
        if row.purpose == PURPOSE_MEASURE and row.status == STATUS_OOM:
            queue.extend(_probes_for(row, suite))
    queue = _unique(queue)
    todo = [c for c in queue if c.cell_id not in done]
    planned = {c.cell_id for c in queue}
    progress = Progress(total=len(todo), already=len(queue) - len(todo))

    def job(cell: Cell) -> CellJob:
        return CellJob(cell=cell, suite=suite.name, device=device, timing=suite.timing,
                       plugins=suite.plugins, conditions=conditions)

    def on_row(row: Row) -> list[CellJob]:
        # This thread alone appends: one writer, whatever the launcher.
        append_row(run_dir / RESULTS_FILE, row)
        rows.append(row)
        done.add(row.cell_id)
        progress.finish(row)
        if row.purpose != PURPOSE_MEASURE or row.status != STATUS_OOM:
            return []
        probes = [p for p in _probes_for(row, suite) if p.cell_id not in planned]
        planned.update(p.cell_id for p in probes)
        progress.total += len(probes)
        return [job(p) for p in probes]

    interrupted = False
    try:
        launcher.run([job(c) for c in todo], on_start=lambda j: progress.start(j.cell), on_row=on_row)
    except KeyboardInterrupt:
        interrupted = True
    progress.close()
    print_summary(rows, file=sys.stdout)
    print(f"\nresults: {run_dir / RESULTS_FILE}", file=sys.stdout)
    if interrupted:
        print(f"vimbench run: interrupted; finish with: vimbench run --resume {run_dir}", file=sys.stderr)
        return 130
    return 1 if any(r.status == STATUS_ERROR for r in rows) else 0


def _probes_for(row: Row, suite: Suite) -> list[Cell]:
    cell = Cell(row.model, row.variant, row.resolution, row.batch, row.precision, row.exec_mode, mode=row.mode,
                purpose=row.purpose, repeat=row.repeat)
    return oom_probe_cells(cell, suite)


def _unique(cells: list[Cell]) -> list[Cell]:
    seen: set[str] = set()
    out = []
    for cell in cells:
        if cell.cell_id not in seen:
            seen.add(cell.cell_id)
            out.append(cell)
    return out


class Progress:
    """A one-line progress bar with ETA on stderr (a line per cell when not a terminal)."""

    def __init__(self, total: int, already: int = 0, stream=None):
        self.total, self.already, self.finished = total, already, 0
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.t0 = time.perf_counter()
        self.current: Cell | None = None

    def _bar(self) -> str:
        width = 20
        frac = self.finished / self.total if self.total else 1.0
        filled = round(frac * width)
        elapsed = time.perf_counter() - self.t0
        if self.finished:
            # Wall time per finished cell: right for one cell at a time and for several GPUs at once.
            eta = f"ETA {_clock(elapsed / self.finished * (self.total - self.finished))}"
        else:
            eta = "ETA ?"
        done_before = f" (+{self.already} done before)" if self.already else ""
        return (f"[{'#' * filled}{'.' * (width - filled)}] {self.finished}/{self.total}{done_before} "
                f"{_clock(elapsed)} {eta}")

    def start(self, cell: Cell) -> None:
        self.current = cell
        text = f"{self._bar()} | {cell.label()}{_purpose_tag(cell.purpose)} ..."
        if self.tty:
            self.stream.write("\r\033[K" + text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, row: Row) -> None:
        self.finished += 1
        outcome = _outcome(row)
        if self.tty:
            self.stream.write("\r\033[K")
        mode = "" if row.mode == "infer" else f" {row.mode}"
        self.stream.write(f"  {row.model} {row.variant} {row.resolution}px b{row.batch} {row.precision}{mode}"
                          f"{_purpose_tag(row.purpose)}: {outcome}\n")
        if row.high_cv:
            self.stream.write(f"  warning: latency CV {row.latency_cv:.1%} > 5% for {row.cell_id}; "
                              "the median is noisy (other load? throttling? too few iterations?)\n")
        if row.throttled:
            self.stream.write(f"  warning: GPU clocks were throttled during {row.cell_id} "
                              f"({', '.join(row.telemetry_during.get('throttle_reasons') or [])})\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\r\033[K")
        self.stream.write(f"{self._bar()} finished\n")
        self.stream.flush()


def _purpose_tag(purpose: str) -> str:
    return "" if purpose == PURPOSE_MEASURE else f" [{purpose}]"


def _outcome(row: Row) -> str:
    if row.status == STATUS_OK:
        return (f"ok {row.images_per_s:,.1f} img/s, median {row.latency_ms_median:.2f} ms, CV {row.latency_cv:.1%}"
                + (f", peak {row.mem_max_allocated_bytes / 2**30:.2f} GiB" if row.mem_max_allocated_bytes else ""))
    first = (row.error or "").splitlines()[0] if row.error else ""
    return f"{row.status.upper()} {first}"


def _clock(seconds: float) -> str:
    seconds = round(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def print_summary(rows: list[Row], file=None) -> None:
    """A compact table of the rows, one line per cell."""
    file = file or sys.stdout
    header = ("model", "variant", "res", "batch", "precision", "exec", "mode", "purpose", "rep", "status",
              "img/s", "median ms", "p10-p90 ms", "CV", "alloc GiB", "nvml GiB", "thr")
    table = [header]
    for r in rows:
        ok = r.status == STATUS_OK
        table.append((
            r.model, r.variant, str(r.resolution), str(r.batch), r.precision, r.exec_mode, r.mode,
            "" if r.purpose == PURPOSE_MEASURE else r.purpose, str(r.repeat), r.status,
            f"{r.images_per_s:,.1f}" if ok else "-",
            f"{r.latency_ms_median:.2f}" if ok else "-",
            f"{r.latency_ms_p10:.2f}-{r.latency_ms_p90:.2f}" if ok else "-",
            (f"{r.latency_cv:.1%}" + ("!" if r.high_cv else "")) if ok else "-",
            f"{r.mem_max_allocated_bytes / 2**30:.2f}" if r.mem_max_allocated_bytes else "-",
            f"{r.mem_nvml_process_bytes / 2**30:.2f}" if r.mem_nvml_process_bytes else "-",
            {True: "yes", False: "no", None: "-"}[r.throttled],
        ))
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    print(file=file)
    for n, line in enumerate(table):
        print("  ".join(cell.ljust(w) if i < 10 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths))),
              file=file)
        if n == 0:
            print("  ".join("-" * w for w in widths), file=file)
    errors = [r for r in rows if r.status == STATUS_ERROR]
    for r in errors:
        print(f"error in {r.cell_id}: {(r.error or '').splitlines()[0] if r.error else ''}", file=file)
