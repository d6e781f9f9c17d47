"""Kernel benchmark of the Triton selective scan: `python -m vimbench.kernels.bench`.

For Vim-Ti/S/B scan shapes (dim = E = 384/768/1536, N = 16) at 224 (L = 197) and 1248
(L = 6085) px, batch 1/8/128, one direction (with z) and the fused bidirectional op:
  1. checks the output against the float64 reference on a batch slice (first and last
     batch element) before any timing;
  2. times with CUDA events (triton.testing.do_bench, median of many reps after warm-up;
     inputs rotate over several copies when one set would fit in L2);
  3. reports ms, effective GB/s, the fraction of the device-to-device copy bandwidth and
     the exponential floor, both measured in the same run.

Effective bytes (DESIGN.md section 4, the minimum traffic):
    one direction:  e * batch * L * (4E + 2N)   read u, delta, z, write y; read B, C
    bidirectional:  e * batch * L * (6E + 4N)   read u, delta (x2), z, write y; B, C (x2)
    bidirdt:        e * batch * L * (4E + 4N + 2R)  the same with delta given as dt_low (R
                    per token, x2) and dt_proj's weight: the Vim mixer's call
e = bytes per element of the I/O dtype.  Exponential floor: batch * L * E * N * ndir
exponentials at the exp2 rate measured by `vimbench.profile.exp2_probe`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

import torch

from vimbench.ceilings import copy_bandwidth, exp2_rate
from vimbench.compare.scan_cases import MODELS, TOKENS, ScanCase, make_inputs, parse_case, scan_function

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
    from vimbench.kernels.selective_scan import bidirectional_scan_ref, selective_scan_ref

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


def time_shape(shape: ScanCase, l2_bytes: int, plan=None, check=True, graphs=False, check_all=True):
    """Returns a dict row: ms (median), p10/p90, error vs reference."""
    import triton.testing

    sets = 1
    if shape.min_bytes() < 2 * l2_bytes:  # rotate input copies so the timed reads come from HBM
        sets = min(64, math.ceil(4 * l2_bytes / max(shape.min_bytes(), 1)))
    inputs = [make_inputs(shape, seed=s) for s in range(sets)]
    fns = [scan_callable(shape, inp, plan) for inp in inputs]
    out = fns[0]()
    torch.cuda.synchronize()
    err = reference_error(shape, inputs[0], out, check_all) if check else float("nan")
    del out
    state = {"i": 0}

    def step():
        state["i"] = (state["i"] + 1) % sets
        fns[state["i"]]()

    q = triton.testing.do_bench(step, warmup=25, rep=200, quantiles=[0.5, 0.1, 0.9])
    row = dict(shape=shape.name, ms=q[0], p10=q[1], p90=q[2], err=err, input_sets=sets)
    if graphs:  # launch-overhead-free time (several launches per call at small batch)
        graph_ms = triton.testing.do_bench_cudagraph(fns[0], rep=200, return_mode="median")
        row["graph_ms"] = graph_ms
    inputs.clear()
    fns.clear()  # free the input sets before the next shape allocates its own
    torch.cuda.empty_cache()
    return row


def machine_header() -> dict:
    import triton

    from vimbench.env import git_commit

    # "-dirty": the tree differs from that commit (e.g. a device copy of a working tree)
    sha, dirty = git_commit()
    commit = "unknown" if sha is None else sha[:7] + ("-dirty" if dirty else "")
    props = torch.cuda.get_device_properties(0)
    return dict(gpu=torch.cuda.get_device_name(0), sms=props.multi_processor_count,
                l2_bytes=getattr(props, "L2_cache_size", 50 << 20), torch=torch.__version__,
                triton=triton.__version__, cuda=torch.version.cuda, git=commit)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--shapes", nargs="*", default=None,
                        help="shape names like vim_tiny-1248-b128-bf16-fwd (default: the full table)")
    parser.add_argument("--no-check", action="store_true", help="skip the reference check (not advised)")
    parser.add_argument("--json", default=None, help="also write the rows as JSON to this path")
    parser.add_argument("--markdown", default=None, help="also write the table as Markdown to this path")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows already in --json (same GPU model) and measure only the rest: "
                             "for splitting the table over several time-limited runs")


def main(args) -> int:
    try:
        shapes = [parse_case(s) for s in args.shapes] if args.shapes else default_shapes()
    except ValueError as err:
        print(f"vimbench kernels: --shapes: {err}", file=sys.stderr)
        return 2
    if args.resume and not args.json:
        print("vimbench kernels: --resume needs --json FILE (the rows to resume from)", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("vimbench kernels: needs a CUDA device (the scan kernels are timed on the GPU)",
              file=sys.stderr)
        return 2
    head = machine_header()
    copy_bps = copy_bandwidth()
    exp_rate = exp2_rate()
    head.update(copy_GBps=copy_bps / 1e9, exp2_per_s=exp_rate,
                command=_command_line())
    print(json.dumps(head), flush=True)
    rows = []
    if args.resume:
        try:
            rows = _rows_to_resume(args.json, head["gpu"], {s.name for s in shapes})
        except ValueError as err:
            print(f"vimbench kernels: --resume: {err}", file=sys.stderr)
            return 2
        for row in rows:
            print(format_row(row) + " (resumed)", flush=True)
    done = {r["shape"] for r in rows}
    todo = [s for s in shapes if s.name not in done]
    for i, shape in enumerate(todo):
        # compiles take seconds to a minute per kernel variant: say what is running
        print(f"[{i + 1}/{len(todo)}] {shape.name} ...", file=sys.stderr, flush=True)
        row = time_shape(shape, head["l2_bytes"], check=not args.no_check, graphs=shape.batch <= 8)
        row["GBps"] = shape.min_bytes() / (row["ms"] * 1e-3) / 1e9
        row["copy_frac"] = row["GBps"] * 1e9 / copy_bps
        row["exp_floor_ms"] = shape.exponentials() / exp_rate * 1e3
        row["exp_frac"] = row["exp_floor_ms"] / row["ms"]
        # the ceilings these fractions used: rows resumed from another call keep their own
        row["ceilings"] = dict(copy_GBps=copy_bps / 1e9, exp2_per_s=exp_rate)
        rows.append(row)
        print(format_row(row), flush=True)
        _save(args, head, rows, remaining=[s.name for s in todo[i + 1:]])
    order = {s.name: k for k, s in enumerate(shapes)}
    rows.sort(key=lambda r: order[r["shape"]])
    table = markdown_table(head, rows)
    print(table)
    _save(args, head, rows, remaining=[])
    tol = {"fp32": 1e-5, "fp16": 1e-2, "bf16": 1e-2}
    dtype = {s.name: s.dtype for s in shapes}
    bad = [r["shape"] for r in rows if not (r["err"] < tol[dtype[r["shape"]]] or math.isnan(r["err"]))]
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


def _rows_to_resume(path: str, gpu: str, wanted: set[str]) -> list[dict]:
    """The rows of an earlier run's JSON to keep: only from the same GPU model, only for
    shapes asked for now.  A missing file resumes nothing."""
    if not os.path.exists(path):
        return []
    try:
        with open(path) as f:
            earlier = json.load(f)
        earlier_gpu = earlier["header"]["gpu"]
        rows = earlier["rows"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a vimbench kernels JSON ({err})") from err
    if earlier_gpu != gpu:
        raise ValueError(f"{path} was measured on {earlier_gpu}, this is {gpu}; timings of two cards "
                         "do not go in one table (use another --json file)")
    return [r for r in rows if r.get("shape") in wanted]


def _command_line() -> str:
    argv = sys.argv[1:]
    prog = "vimbench" if argv[:1] == ["kernels"] else "python -m vimbench.kernels.bench"
    return " ".join([prog, *argv])


def format_row(r: dict) -> str:
    graph = f"{r['graph_ms']:.4f}" if "graph_ms" in r else "-"
    return (f"| {r['shape']} | {r['ms']:.4f} | {r['p10']:.4f}-{r['p90']:.4f} | {graph} | {r['GBps']:.0f} | "
            f"{r['copy_frac']:.2f} | {r['exp_floor_ms']:.4f} | {r['exp_frac']:.2f} | {r['err']:.1e} |")


def markdown_table(head: dict, rows: list[dict]) -> str:
    lines = [f"GPU {head['gpu']} ({head['sms']} SMs), torch {head['torch']}, triton {head['triton']}, "
             f"CUDA {head['cuda']}, git {head['git']}; copy {head['copy_GBps']:.0f} GB/s, "
             f"exp2 {head['exp2_per_s']:.3g}/s (both measured in this run; a row resumed from an earlier "
             "call keeps that call's, in its JSON `ceilings`)", "",
             f"command: `{head.get('command', '')}`; ms = CUDA-event median (triton do_bench), "
             "CUDA graph = the same call replayed from a graph (no launch overhead)", "",
             "| shape | ms (median) | p10-p90 | ms (CUDA graph) | GB/s | of copy BW | exp floor ms | "
             "of exp floor | rel err vs f64 |",
             "|---|---|---|---|---|---|---|---|---|"]
    lines += [format_row(r) for r in rows]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m vimbench.kernels.bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    sys.exit(main(parser.parse_args()))
