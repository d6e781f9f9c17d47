"""`vimbench profile`: where the time, memory and energy of one or more cells go.

Cells come from a suite (`--suite highres --cell 3`, or `--cell model=vim_tiny
--cell resolution=1248`, keys as in `vimbench run --only`), or from the command line:
the product of `--model` (MODEL or MODEL:VARIANT, several allowed), `--resolution`,
`--batch` and `--precision`, and/or explicit `--target MODEL:VARIANT:RESOLUTION:BATCH
[:PRECISION]` entries (when batches differ per model).  Several cells make one report
that compares them.

Writes into `--out` (default `runs/profile-<UTC time>/`): profile.md, CSV tables, PNG plots,
one Chrome trace per cell (`trace-*.json.gz`, open in chrome://tracing or Perfetto; ignored
by git) and `results.pkl` (the raw results, to rebuild the report elsewhere).
"""

from __future__ import annotations

import argparse
import itertools
import shlex
import sys
import time
from pathlib import Path

DEFAULT_PRECISION_GPU = "amp-fp16"
DEFAULT_PRECISION_CPU = "fp32"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    src = parser.add_argument_group("cells from a suite")
    src.add_argument("--suite", help="suite name or path (see `vimbench list`)")
    src.add_argument("--cell", action="append", default=[], metavar="INDEX|KEY=VALUE[,VALUE]",
                     help="an inference cell of the suite by its 0-based index among them, or a filter "
                          "(keys: model, variant, resolution, batch, precision, exec_mode; filters on different "
                          "keys combine); repeatable; without --cell every cell of the suite is profiled")
    cli = parser.add_argument_group("cells from the command line")
    cli.add_argument("--model", action="append", default=[], metavar="MODEL[:VARIANT]",
                     help="e.g. vim_tiny:triton, deit_tiny:sdpa; repeatable")
    cli.add_argument("--variant", help="variant for every --model given without one")
    cli.add_argument("--resolution", type=int, nargs="+", default=[], help="image side(s) in pixels")
    cli.add_argument("--batch", type=int, nargs="+", default=[], help="batch size(s)")
    cli.add_argument("--precision", nargs="+", default=[],
                     help=f"precision policy(ies); default {DEFAULT_PRECISION_GPU} on GPU, {DEFAULT_PRECISION_CPU} on CPU")
    cli.add_argument("--exec-mode", default="eager", help="eager | cuda_graph | compile[:MODE] (default eager)")
    cli.add_argument("--target", action="append", default=[], metavar="MODEL:VARIANT:RES:BATCH[:PRECISION]",
                     help="one explicit cell; repeatable")
    run = parser.add_argument_group("how")
    run.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    run.add_argument("--out", type=Path, help="output directory (default runs/profile-<UTC time>)")
    run.add_argument("--warmup", type=int, default=3, help="warm-up forwards (default 3)")
    run.add_argument("--timed-iters", type=int, default=10, help="timed forwards, at least (default 10)")
    run.add_argument("--timed-min-s", type=float, default=None,
                     help="time the loop at least this long (default 2 s on GPU, for NVML power; 0 on CPU)")
    run.add_argument("--iters", type=int, default=3, help="profiled forwards (default 3)")
    run.add_argument("--top", type=int, default=15, help="kernels listed per cell (default 15)")
    run.add_argument("--no-trace", action="store_true", help="do not write Chrome traces")
    run.add_argument("--no-memory-history", action="store_true", help="skip the allocator history (timeline)")
    run.add_argument("--no-roofline", action="store_true", help="skip the ceiling measurements")
    run.add_argument("--isolation", choices=("auto", "process", "inline"), default="auto",
                     help="process: each cell in a fresh spawned process (default on GPU); inline: in this one")


class UsageError(ValueError):
    """A bad command line; the message names the argument and the allowed values."""


def cells_from_args(args, device: str):
    """The cells to profile, validated against the model registry and the precisions."""
    from vimbench.models import get_model_spec
    from vimbench.precision import PRECISIONS
    from vimbench.suite import Cell

    cells = []
    if args.suite:
        cells += _suite_cells(args.suite, args.cell)
    elif args.cell:
        raise UsageError("--cell needs --suite")
    precisions = args.precision or [DEFAULT_PRECISION_GPU if device == "cuda" else DEFAULT_PRECISION_CPU]
    if args.model:
        if not args.resolution or not args.batch:
            raise UsageError("--model needs --resolution and --batch")
        models = [_model_variant(m, args.variant) for m in args.model]
        for (model, variant), res, batch, prec in itertools.product(models, args.resolution, args.batch, precisions):
            cells.append(Cell(model, variant, res, batch, prec, args.exec_mode))
    for text in args.target:
        parts = text.split(":")
        if len(parts) not in (4, 5):
            raise UsageError(f"--target {text}: expected MODEL:VARIANT:RESOLUTION:BATCH[:PRECISION]")
        try:
            res, batch = int(parts[2]), int(parts[3])
        except ValueError:
            raise UsageError(f"--target {text}: RESOLUTION and BATCH must be integers") from None
        cells.append(Cell(parts[0], parts[1], res, batch, parts[4] if len(parts) == 5 else precisions[0],
                          args.exec_mode))
    if not cells:
        raise UsageError("nothing to profile: give --suite (with --cell), --model with --resolution and --batch, "
                         "or --target")
    for cell in cells:
        try:
            spec = get_model_spec(cell.model)
        except KeyError as exc:
            raise UsageError(str(exc.args[0])) from None
        variant = cell.variant or spec.default_variant
        if variant not in spec.variants:
            raise UsageError(f"model {cell.model}: unknown {spec.variant_kind} {variant!r}; "
                             f"allowed: {', '.join(spec.variants)}")
        if cell.resolution <= 0 or (spec.patch_size is not None and cell.resolution % spec.patch_size):
            raise UsageError(f"--resolution {cell.resolution}: must be a positive multiple of {cell.model}'s "
                             f"patch size {spec.patch_size}")
        if cell.batch < 1:
            raise UsageError(f"--batch {cell.batch}: must be at least 1")
        if cell.precision not in PRECISIONS:
            raise UsageError(f"--precision {cell.precision}: allowed: {', '.join(PRECISIONS)}")
    from dataclasses import replace

    return [replace(c, variant=c.variant or get_model_spec(c.model).default_variant) for c in cells]


def _model_variant(text: str, default_variant: str | None) -> tuple[str, str | None]:
    model, _, variant = text.partition(":")
    return model, (variant or default_variant)


def _suite_cells(name: str, selectors: list[str]):
    from vimbench.modes import INFER
    from vimbench.suite import expand_cells, load_suite, parse_only

    suite = load_suite(name)
    all_cells = [c for c in expand_cells(suite) if c.mode == INFER]  # a profile runs forwards only
    if not all_cells:
        raise UsageError(f"--suite {name}: profiles time inference; suite {suite.name} has only train cells "
                         "(mode train is not profiled yet)")
    indices = [s for s in selectors if s.strip().isdigit()]
    filters = [s for s in selectors if not s.strip().isdigit()]
    chosen = []
    for index in indices:
        i = int(index)
        if i >= len(all_cells):
            raise UsageError(f"--cell {i}: suite {suite.name} has cells 0..{len(all_cells) - 1}")
        chosen.append(all_cells[i])
    if filters or not indices:
        only = parse_only(filters)
        chosen += [c for c in all_cells if all(c.value(k) in v for k, v in only.items())]
    if not chosen:
        raise UsageError(f"--cell {' '.join(selectors)}: no cell of suite {suite.name} matches")
    return [c for c in dict.fromkeys(chosen) if c.purpose == "measure"]


def main(args) -> int:
    from .session import ProfileSettings, resolve_device, timestamp

    try:
        device = resolve_device(args.device)
        cells = cells_from_args(args, device)
    except (UsageError, ValueError) as exc:
        print(f"vimbench profile: {exc}", file=sys.stderr)
        return 2

    out_dir = args.out or Path("runs") / f"profile-{timestamp()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    timed_min_s = args.timed_min_s if args.timed_min_s is not None else (2.0 if device == "cuda" else 0.0)
    settings = ProfileSettings(warmup_iters=args.warmup, timed_iters=args.timed_iters, timed_min_s=timed_min_s,
                               profile_iters=args.iters, top_n=args.top, trace=not args.no_trace,
                               memory_history=not args.no_memory_history, roofline=not args.no_roofline)
    isolation = args.isolation if args.isolation != "auto" else ("process" if device == "cuda" else "inline")
    command = equivalent_command(cells, args, device)
    results = run_cells(cells, device, settings, out_dir, isolation,
                        on_result=lambda done: write_report(done, out_dir, command, settings.top_n))
    print_summary(results, out_dir)
    return 0 if all(r.status in ("ok", "oom") for r in results) else 1


def equivalent_command(cells, args, device: str) -> str:
    """A command line that profiles exactly these cells again (suite selections spelled out)."""
    parts = ["vimbench", "profile", "--device", device]
    for c in cells:
        parts += ["--target", f"{c.model}:{c.variant}:{c.resolution}:{c.batch}:{c.precision}"]
    if cells and cells[0].exec_mode != "eager":
        parts += ["--exec-mode", cells[0].exec_mode]
    for flag, value, default in (("--warmup", args.warmup, 3), ("--timed-iters", args.timed_iters, 10),
                                 ("--timed-min-s", args.timed_min_s, None), ("--iters", args.iters, 3),
                                 ("--top", args.top, 15)):
        if value != default:
            parts += [flag, str(value)]
    for flag in ("no_trace", "no_memory_history", "no_roofline"):
        if getattr(args, flag):
            parts.append("--" + flag.replace("_", "-"))
    return " ".join(shlex.quote(p) for p in parts)


def run_cells(cells, device: str, settings, out_dir: Path, isolation: str, on_result=None):
    """Profile each cell; `on_result(results_so_far)` runs after each (to keep the report current)."""
    from .session import profile_cell

    ceilings = None
    if device == "cuda" and settings.roofline:
        ceilings = _in_process(_measure_ceilings, isolation)
        if ceilings is not None and not isinstance(ceilings, str):
            print(f"ceilings: copy {ceilings.copy_bytes_per_s / 1e9:.0f} GB/s, exp2 {ceilings.exp2_per_s:.3g}/s "
                  f"({ceilings.exp2_source})", flush=True)
        else:
            print(f"ceilings: not measured ({ceilings})", flush=True)
            ceilings = None
    results = []
    for i, cell in enumerate(cells, start=1):
        print(f"[{i}/{len(cells)}] {cell.label()} ...", flush=True)
        started = time.perf_counter()
        result = _in_process(profile_cell, isolation, cell, device, settings, out_dir, ceilings)
        if isinstance(result, str):  # the worker process died
            from dataclasses import asdict

            from .session import ProfileResult, cell_slug

            result = ProfileResult(target=asdict(cell), label=cell.label(), slug=cell_slug(cell), device=device,
                                   status="error", error=result)
        print(f"    {result.status}" + (f": {result.error}" if result.error else
                                        f", {result.summary.get('images_per_s', float('nan')):.1f} images/s")
              + f" ({time.perf_counter() - started:.0f} s)", flush=True)
        results.append(result)
        if on_result is not None:
            on_result(results)
    return results


def _measure_ceilings():
    import torch

    from .roofline import measure_ceilings

    return measure_ceilings(torch.device("cuda"))


def _in_process(fn, isolation: str, *args):
    """Run fn inline, or in a fresh spawned process (its CUDA context, allocator and NVML
    process memory its own).  A worker that dies returns a string saying so."""
    if isolation == "inline":
        return fn(*args)
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as pool:
        try:
            return pool.submit(fn, *args).result()
        except BrokenProcessPool as exc:
            return f"the worker process died ({exc})"


def write_report(results, out_dir: Path, command: str, top_n: int):
    """Plots, CSVs and profile.md; each step on its own, so one failing step loses nothing else.
    The raw results are pickled too (`results.pkl`), so a report can be rebuilt elsewhere."""
    import pickle

    from .plots import write_plots
    from .report import write_csvs, write_markdown

    with open(Path(out_dir) / "results.pkl", "wb") as fh:
        pickle.dump(results, fh)
    plots = {}
    for step in ("plots", "csvs", "markdown"):
        try:
            if step == "plots":
                plots = write_plots(results, out_dir)
            elif step == "csvs":
                write_csvs(results, out_dir)
            else:
                return write_markdown(results, out_dir, command, plots, top_n)
        except Exception as exc:  # noqa: BLE001 - report what broke; the other outputs stand
            print(f"vimbench profile: writing {step} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
    return None


def print_summary(results, out_dir: Path) -> None:
    from .categories import CATEGORIES

    names = list(CATEGORIES)
    print()
    print(f"{'cell':48s} {'img/s':>9s} " + " ".join(f"{c[:6]:>6s}" for c in names))
    for r in results:
        if r.status != "ok":
            print(f"{r.label:48s} {r.status}")
            continue
        shares = dict(zip(r.categories["category"], r.categories["share"]))
        print(f"{r.label:48s} {r.summary.get('images_per_s', 0):9.1f} "
              + " ".join(f"{100 * shares[c]:5.1f}%" for c in names))
    for r in results:
        if r.status == "ok" and r.kernels is not None:
            top = "; ".join(f"{k.kernel[:60]} [{k.category}] {100 * k.share:.1f}%"
                            for k in r.kernels.head(3).itertuples())
            print(f"top kernels, {r.label}: {top}")
    for note in sorted({n for r in results for n in r.notes if "Traceback" not in n}):
        print(f"note: {note}")
    print(f"\nreport: {out_dir / 'profile.md'}")
