"""DRAM bytes and time of every kernel in one Vim-Ti forward, per block, against the
copy-rate floor (issue 16: "measure the DRAM bytes each kernel moves (ncu) and hold them
to the copy rate").

Two steps, on a GPU with Nsight Compute:

    ncu --profile-from-start off --metrics dram__bytes_read.sum,dram__bytes_write.sum,gpu__time_duration.sum \\
        --csv --log-file $OUT/ncu.csv python3 benchmarks/layer_dram_bytes.py run --px 1248 --batch 8
    python3 benchmarks/layer_dram_bytes.py table $OUT/ncu.csv --copy-gbs <GB/s> --blocks 24 > $OUT/layer_bytes.md

`run` builds Vim-Ti (the harness's default route: Triton, fused block kernels), warms it up,
then profiles exactly one `forward_features` (amp-fp16, no grad) between
cudaProfilerStart/Stop, and prints the card's device-to-device copy rate (a 1 GiB
`copy_`, read + write bytes / time) for the table.  `table` groups the kernels by name and
gives per block: calls, DRAM bytes read and written, kernel time, and the time the same
bytes would take at the copy rate (the floor a memory-bound kernel can approach).
Kernels ncu replays are timed in isolation (caches flushed), so their sum is not the
forward's wall time.
"""

from __future__ import annotations

import argparse
import csv
import sys
from collections import defaultdict


def _copy_rate_gbs(torch) -> float:
    n = 1 << 28  # 1 GiB of fp32
    src = torch.empty(n, device="cuda")
    dst = torch.empty_like(src)
    for _ in range(3):
        dst.copy_(src)
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(10):
        dst.copy_(src)
    end.record()
    torch.cuda.synchronize()
    return 2 * 4 * n * 10 / (start.elapsed_time(end) * 1e-3) / 1e9


def run(args) -> None:
    import torch

    from vimbench.models.vim import vim

    model = vim("tiny", img_size=args.px).cuda().eval()
    x = torch.randn(args.batch, 3, args.px, args.px, device="cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
        for _ in range(3):
            out = model.forward_features(x)
        torch.cuda.synchronize()
        if not torch.isfinite(out).all():
            sys.exit("forward_features is not finite: nothing to profile")
        torch.cuda.profiler.start()
        model.forward_features(x)
        torch.cuda.synchronize()
        torch.cuda.profiler.stop()
    print(f"copy rate: {_copy_rate_gbs(torch):.1f} GB/s ({torch.cuda.get_device_name()}), "
          f"Vim-Ti {args.px} px batch {args.batch} amp-fp16")


def _number(text: str) -> float:
    return float(text.replace(",", ""))


def _to_bytes(value: float, unit: str) -> float:
    scale = {"byte": 1, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "KB": 1e3, "MB": 1e6, "GB": 1e9}
    if unit not in scale:
        raise ValueError(f"unknown byte unit {unit!r} in the ncu CSV")
    return value * scale[unit]


def _to_seconds(value: float, unit: str) -> float:
    scale = {"nsecond": 1e-9, "usecond": 1e-6, "msecond": 1e-3, "second": 1.0, "ns": 1e-9, "us": 1e-6, "ms": 1e-3}
    if unit not in scale:
        raise ValueError(f"unknown time unit {unit!r} in the ncu CSV")
    return value * scale[unit]


def read_ncu_csv(path: str) -> dict[str, dict[str, float]]:
    """{kernel name: {calls, read, write (bytes), seconds}} summed over calls, from ncu's
    --csv output (one row per kernel launch and metric)."""
    with open(path, newline="") as f:
        lines = [line for line in f if line.startswith('"')]  # ncu prefixes log lines with ==PROF==
    per_launch: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for row in csv.DictReader(lines):
        key = (row["ID"], row["Kernel Name"])
        name, unit, value = row["Metric Name"], row["Metric Unit"], _number(row["Metric Value"])
        if name == "dram__bytes_read.sum":
            per_launch[key]["read"] = _to_bytes(value, unit)
        elif name == "dram__bytes_write.sum":
            per_launch[key]["write"] = _to_bytes(value, unit)
        elif name == "gpu__time_duration.sum":
            per_launch[key]["seconds"] = _to_seconds(value, unit)
    if not per_launch:
        raise ValueError(f"{path}: no kernel rows (was ncu run with --csv and the three metrics?)")
    kernels: dict[str, dict[str, float]] = defaultdict(lambda: dict(calls=0, read=0.0, write=0.0, seconds=0.0))
    for (_, name), m in per_launch.items():
        k = kernels[name.split("(")[0].split("<")[0]]
        k["calls"] += 1
        for field in ("read", "write", "seconds"):
            k[field] += m.get(field, 0.0)
    return dict(kernels)


def table(args) -> None:
    kernels = read_ncu_csv(args.csv)
    rate = args.copy_gbs * 1e9
    total = dict(read=0.0, write=0.0, seconds=0.0)
    print(f"Per Vim block ({args.blocks} blocks; kernels called fewer times than blocks are shown "
          f"per forward divided by {args.blocks}). Copy rate {args.copy_gbs:.0f} GB/s.\n")
    print("| kernel | calls | read MB | write MB | time us | copy-rate floor us | time / floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, k in sorted(kernels.items(), key=lambda kv: -kv[1]["seconds"]):
        read, write, sec = (k[f] / args.blocks for f in ("read", "write", "seconds"))
        floor = (read + write) / rate
        for f, v in (("read", read), ("write", write), ("seconds", sec)):
            total[f] += v
        ratio = f"{sec / floor:.2f}x" if floor > 0 else "-"
        print(f"| `{name[:60]}` | {k['calls']} | {read / 1e6:.1f} | {write / 1e6:.1f} | {sec * 1e6:.1f} | "
              f"{floor * 1e6:.1f} | {ratio} |")
    floor = (total["read"] + total["write"]) / rate
    print(f"| **all** | | {total['read'] / 1e6:.1f} | {total['write'] / 1e6:.1f} | {total['seconds'] * 1e6:.1f} | "
          f"{floor * 1e6:.1f} | {total['seconds'] / floor:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p_run = sub.add_parser("run", help="the profiled workload (launch under ncu)")
    p_run.add_argument("--px", type=int, default=1248)
    p_run.add_argument("--batch", type=int, default=8)
    p_tab = sub.add_parser("table", help="markdown table from ncu's CSV")
    p_tab.add_argument("csv")
    p_tab.add_argument("--copy-gbs", type=float, required=True, help="the copy rate `run` printed")
    p_tab.add_argument("--blocks", type=int, default=24)
    args = parser.parse_args()
    run(args) if args.cmd == "run" else table(args)


if __name__ == "__main__":
    main()
