"""Kernel benchmark of the Triton selective scan: `python -m mamba_triton.bench`.

For Vim-Ti/S/B scan shapes (dim = E = 384/768/1536, N = 16) at 224 (L = 197) and 1248
(L = 6085) px, batch 1/8/128, one direction (with z) and the fused bidirectional op:
  1. checks the output against the float64 reference on a batch slice (first and last
     batch element) before any timing;
  2. times with CUDA events (triton.testing.do_bench, median of many reps after warm-up;
     inputs rotate over several copies when one set would fit in L2);
  3. reports ms, effective GB/s, the fraction of the device-to-device copy bandwidth and
     the exponential floor, both measured in the same run;
  4. with --against-mamba-ssm, times mamba_ssm's CUDA scan (`selective_scan_cuda.fwd`) on
     the same inputs, checked against float64 the same way, and adds its ms and our
     speedup to the row (`_mamba_ssm.py` says what exactly is timed).

Effective bytes (DESIGN.md section 4, the minimum traffic):
    one direction:  e * batch * L * (4E + 2N)   read u, delta, z, write y; read B, C
    bidirectional:  e * batch * L * (6E + 4N)   read u, delta (x2), z, write y; B, C (x2)
    bidirdt:        e * batch * L * (4E + 4N + 2R)  the same with delta given as dt_low (R
                    per token, x2) and dt_proj's weight: the Vim mixer's call
e = bytes per element of the I/O dtype.  Exponential floor: batch * L * E * N * ndir
exponentials at the exp2 rate measured by `exp2_probe.py`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch

from .ceilings import copy_bandwidth, exp2_rate
from .shapes import MODELS, TOKENS, ScanCase, make_inputs, parse_case, scan_function

BATCHES = (1, 8, 128)


def default_shapes() -> list[ScanCase]:
    shapes = [ScanCase(m, r, b, "bf16", d) for m in MODELS for r in TOKENS for b in BATCHES
              for d in ("fwd", "bidir")]
    shapes += [ScanCase("vim_tiny", 1248, b, "fp32", "fwd") for b in (1, 128)]
    shapes += [ScanCase("vim_tiny", 1248, b, "bf16", "bidirdt") for b in (1, 128)]
    return shapes


def scan_callable(shape: ScanCase, inputs, plan=None):
    args, kwargs = inputs
    fn = scan_function(shape.direction)
    return lambda: fn(*args, plan=plan, **kwargs)


def _batch_slice(x, i: int):
    # float64 copies of one batch element (3-d tensors) and of the per-channel parameters
    if not isinstance(x, torch.Tensor):
        return x
    return x[i:i + 1].double() if x.dim() == 3 else x.double()


def reference_error(shape: ScanCase, inputs, out, check_all=True) -> float:
    """Relative L2 error against the float64 reference on the first and (check_all) the
    last batch element: the reference is a Python loop over L, too slow for whole batches."""
    from .selective_scan import bidirectional_scan_ref, selective_scan_ref

    reference = selective_scan_ref if shape.direction == "fwd" else bidirectional_scan_ref
    args, kwargs = inputs
    worst = 0.0
    for i in sorted({0, shape.batch - 1} if check_all else {0}):
        ref = reference(*(_batch_slice(a, i) for a in args), **{k: _batch_slice(v, i) for k, v in kwargs.items()})
        got = out[i:i + 1].double()
        if not torch.isfinite(got).all():
            return math.inf
        worst = max(worst, ((got - ref).norm() / ref.norm()).item())
        del ref
    return worst


def _input_sets(shape: ScanCase, l2_bytes: int) -> int:
    """How many input copies to rotate over so the timed reads come from HBM, not L2."""
    if shape.min_bytes() >= 2 * l2_bytes:
        return 1
    return min(64, math.ceil(4 * l2_bytes / max(shape.min_bytes(), 1)))


def _time_rotating(fns) -> list[float]:
    """[median, p10, p90] ms of calling fns[0], fns[1], ... in turn (triton do_bench)."""
    import triton.testing

    state = {"i": 0}

    def step():
        state["i"] = (state["i"] + 1) % len(fns)
        fns[state["i"]]()

    return triton.testing.do_bench(step, warmup=25, rep=200, quantiles=[0.5, 0.1, 0.9])


def time_shape(shape: ScanCase, l2_bytes: int, plan=None, check=True, graphs=False, check_all=True,
               mamba_ssm=None):
    """Returns a dict row: ms (median), p10/p90, error vs reference; with `mamba_ssm` (the
    selective_scan_cuda module) also mamba_ssm_ms / mamba_ssm_err / speedup on the same inputs."""
    import triton.testing

    sets = _input_sets(shape, l2_bytes)
    inputs = [make_inputs(shape, seed=s) for s in range(sets)]
    fns = [scan_callable(shape, inp, plan) for inp in inputs]
    out = fns[0]()
    torch.cuda.synchronize()
    err = reference_error(shape, inputs[0], out, check_all) if check else float("nan")
    del out
    q = _time_rotating(fns)
    row = dict(shape=shape.name, ms=q[0], p10=q[1], p90=q[2], err=err, input_sets=sets)
    if graphs:  # launch-overhead-free time (several launches per call at small batch)
        graph_ms = triton.testing.do_bench_cudagraph(fns[0], rep=200, return_mode="median")
        row["graph_ms"] = graph_ms
    fns.clear()
    if mamba_ssm is not None:
        row.update(_time_mamba_ssm(shape, inputs, mamba_ssm, check, check_all))
        row["speedup"] = row["mamba_ssm_ms"] / row["ms"]
    inputs.clear()  # free the input sets before the next shape allocates its own
    torch.cuda.empty_cache()
    return row


def _time_mamba_ssm(shape: ScanCase, inputs, module, check: bool, check_all: bool) -> dict:
    from ._mamba_ssm import mamba_ssm_calls

    calls = [mamba_ssm_calls(shape.direction, inp, module) for inp in inputs]
    run, combine = calls[0]
    out = combine(run())
    torch.cuda.synchronize()
    err = reference_error(shape, inputs[0], out, check_all) if check else float("nan")
    del out
    q = _time_rotating([run for run, _ in calls])
    calls.clear()
    return dict(mamba_ssm_ms=q[0], mamba_ssm_p10=q[1], mamba_ssm_p90=q[2], mamba_ssm_err=err)


def _git_commit() -> str:
    """Commit of the checkout this file is in, "-dirty" if the tree differs from it (e.g. a
    device copy of a working tree); "unknown" outside a git checkout (an installed wheel)."""
    import subprocess

    here = os.path.dirname(os.path.abspath(__file__))
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                             timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                                capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return sha[:7] + ("-dirty" if status.strip() else "")


def machine_header(commit: str | None = None) -> dict:
    """The card and versions; `commit` (default: this checkout's, see _git_commit) names the code."""
    import triton

    props = torch.cuda.get_device_properties(0)
    return dict(gpu=torch.cuda.get_device_name(0), sms=props.multi_processor_count,
                l2_bytes=getattr(props, "L2_cache_size", 50 << 20), torch=torch.__version__,
                triton=triton.__version__, cuda=torch.version.cuda, git=commit or _git_commit())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shapes", nargs="*", default=None,
                        help="shape names like vim_tiny-1248-b128-bf16-fwd (default: the full table)")
    parser.add_argument("--no-check", action="store_true", help="skip the reference check (not advised)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON to this path")
    parser.add_argument("--markdown", default=None, help="also write the table as Markdown to this path")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --json (same GPU model) and measure only the rest: "
                             "for splitting the table over several time-limited runs")
    parser.add_argument("--against-mamba-ssm", action="store_true",
                        help="also time mamba_ssm's CUDA scan (selective_scan_cuda.fwd) on the same inputs, "
                             "checked against float64 first; adds its ms and our speedup to each row")
    parser.add_argument("--mamba-ssm-path", default=None, metavar="DIR",
                        help="where to find selective_scan_cuda when it is not installed (default: "
                             "$VIMBENCH_OFFICIAL_KERNELS, else where the harness's official build writes for "
                             "this torch version: _mamba_ssm.default_path())")


PROG = "python -m mamba_triton.bench"


def main(args, prog: str = PROG, command: str | None = None, commit: str | None = None) -> int:
    """Run the benchmark; `prog` prefixes error messages, `command` (default: this process's
    command line) and `commit` (default: this checkout's) are recorded in the header.
    Exit 0, 1 (reference check failed) or 2 (usage)."""
    try:
        shapes = [parse_case(s) for s in args.shapes] if args.shapes else default_shapes()
    except ValueError as err:
        print(f"{prog}: --shapes: {err}", file=sys.stderr)
        return 2
    if args.resume and not args.json:
        print(f"{prog}: --resume needs --json FILE (the rows to resume from)", file=sys.stderr)
        return 2
    mamba_ssm = None
    if args.against_mamba_ssm:
        from ._mamba_ssm import load

        try:
            mamba_ssm = load(args.mamba_ssm_path)
        except ImportError as err:
            print(f"{prog}: {err}", file=sys.stderr)
            return 2
    if not torch.cuda.is_available():
        print(f"{prog}: needs a CUDA device (the scan kernels are timed on the GPU)", file=sys.stderr)
        return 2
    head = machine_header(commit)
    copy_bps = copy_bandwidth()
    exp_rate = exp2_rate()
    head.update(copy_GBps=copy_bps / 1e9, exp2_per_s=exp_rate,
                command=command or " ".join([prog, *sys.argv[1:]]))
    if mamba_ssm is not None:
        head["mamba_ssm"] = os.path.abspath(mamba_ssm.__file__)
    print(json.dumps(head), flush=True)
    rows = []
    if args.resume:
        try:
            rows = _rows_to_resume(args.json, head, {s.name for s in shapes})
        except ValueError as err:
            print(f"{prog}: --resume: {err}", file=sys.stderr)
            return 2
        for row in rows:
            print(format_row(row, mamba_ssm is not None) + " (resumed)", flush=True)
    done = {r["shape"] for r in rows}
    todo = [s for s in shapes if s.name not in done]
    for i, shape in enumerate(todo):
        # compiles take seconds to a minute per kernel variant: say what is running
        print(f"[{i + 1}/{len(todo)}] {shape.name} ...", file=sys.stderr, flush=True)
        row = time_shape(shape, head["l2_bytes"], check=not args.no_check, graphs=shape.batch <= 8,
                         mamba_ssm=mamba_ssm)
        row["GBps"] = shape.min_bytes() / (row["ms"] * 1e-3) / 1e9
        row["copy_frac"] = row["GBps"] * 1e9 / copy_bps
        row["exp_floor_ms"] = shape.exponentials() / exp_rate * 1e3
        row["exp_frac"] = row["exp_floor_ms"] / row["ms"]
        # the ceilings these fractions used: rows resumed from another call keep their own
        row["ceilings"] = dict(copy_GBps=copy_bps / 1e9, exp2_per_s=exp_rate)
        rows.append(row)
        print(format_row(row, mamba_ssm is not None), flush=True)
        _save(args, head, rows, remaining=[s.name for s in todo[i + 1:]])
    order = {s.name: k for k, s in enumerate(shapes)}
    rows.sort(key=lambda r: order[r["shape"]])
    table = markdown_table(head, rows)
    print(table)
    _save(args, head, rows, remaining=[])
    tol = {"fp32": 1e-5, "fp16": 1e-2, "bf16": 1e-2}
    dtype = {s.name: s.dtype for s in shapes}
    bad = [f"{r['shape']} ({impl})" for r in rows for impl, key in (("ours", "err"), ("mamba_ssm", "mamba_ssm_err"))
           if key in r and not (r[key] < tol[dtype[r["shape"]]] or math.isnan(r[key]))]
    if bad:
        print(f"REFERENCE CHECK FAILED for {bad}", file=sys.stderr)
        return 1
    return 0


def _save(args, head: dict, rows: list[dict], remaining: list[str]) -> None:
    """Write the JSON and Markdown after every shape (atomically), so a run killed by a time
    limit keeps what it measured; `remaining` lists the shapes not measured yet."""
    if args.json:
        _write_atomic(args.json, json.dumps(dict(header=head, rows=rows, remaining=remaining), indent=1))
    if args.markdown:
        _write_atomic(args.markdown, markdown_table(head, rows))


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def _rows_to_resume(path: str, head: dict, wanted: set[str]) -> list[dict]:
    """The rows of an earlier run's JSON to keep: only from the same GPU model, with the same
    mamba_ssm comparison (both with it or both without), only for shapes asked for now.
    A missing file resumes nothing."""
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            earlier = json.load(f)
        earlier_gpu = earlier["header"]["gpu"]
        earlier_mamba = earlier["header"].get("mamba_ssm")
        rows = earlier["rows"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a kernel benchmark JSON ({err})") from err
    if earlier_gpu != head["gpu"]:
        raise ValueError(f"{path} was measured on {earlier_gpu}, this is {head['gpu']}; timings of two cards "
                         "do not go in one table (use another --json file)")
    if (earlier_mamba is None) != (head.get("mamba_ssm") is None):
        raise ValueError(f"{path} was measured {'with' if earlier_mamba else 'without'} --against-mamba-ssm, "
                         "this run differs: one table has one set of columns (use another --json file)")
    return [r for r in rows if r.get("shape") in wanted]


def format_row(r: dict, mamba_ssm: bool = False) -> str:
    graph = f"{r['graph_ms']:.4f}" if "graph_ms" in r else "-"
    line = (f"| {r['shape']} | {r['ms']:.4f} | {r['p10']:.4f}-{r['p90']:.4f} | {graph} | {r['GBps']:.0f} | "
            f"{r['copy_frac']:.2f} | {r['exp_floor_ms']:.4f} | {r['exp_frac']:.2f} | {r['err']:.1e} |")
    if mamba_ssm:
        line += f" {r['mamba_ssm_ms']:.4f} | {r['mamba_ssm_err']:.1e} | {r['speedup']:.2f} |"
    return line


def markdown_table(head: dict, rows: list[dict]) -> str:
    mamba_ssm = head.get("mamba_ssm") is not None
    lines = [f"GPU {head['gpu']} ({head['sms']} SMs), torch {head['torch']}, triton {head['triton']}, "
             f"CUDA {head['cuda']}, git {head['git']}; copy {head['copy_GBps']:.0f} GB/s, "
             f"exp2 {head['exp2_per_s']:.3g}/s (both measured in this run; a row resumed from an earlier "
             "call keeps that call's, in its JSON `ceilings`)", "",
             f"command: `{head.get('command', '')}`; ms = CUDA-event median (triton do_bench), "
             "CUDA graph = the same call replayed from a graph (no launch overhead)", ""]
    columns = ("| shape | ms (median) | p10-p90 | ms (CUDA graph) | GB/s | of copy BW | exp floor ms | "
               "of exp floor | rel err vs f64 |")
    if mamba_ssm:
        lines += [f"mamba_ssm: `selective_scan_cuda` from {head['mamba_ssm']}, its fwd kernel(s) alone on "
                  "contiguous copies of the same inputs (bidirectional: two calls, the backward inputs flipped "
                  "beforehand); speedup = mamba_ssm ms / our ms", ""]
        columns += " mamba_ssm ms | mamba_ssm rel err | speedup |"
    lines += [columns, "|---" * columns.count(" | ") + "|---|"]
    lines += [format_row(r, mamba_ssm) for r in rows]
    return "\n".join(lines) + "\n"


def cli(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.splitlines()[0])
    add_arguments(parser)
    return main(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(cli())
