"""Assemble the full v3 kernel table from the three H200 bench runs (each run measured its
own copy bandwidth and exp2 rate; a row's fractions use its own run's figures).

    PYTHONPATH=.:kernels python benchmarks/assemble_scan_table_v3_h200.py > reports/kernels/scan_bench_v3_h200.md
"""

import json
from pathlib import Path

from mamba_triton.bench import default_shapes

LOGS = Path(__file__).resolve().parents[1] / "reports" / "kernels" / "v3-h200"  # the run logs
RUNS = ["run2_scan_bench.log", "run4_scan_bench.log", "run5_scan_bench.log"]


def main():
    rows, heads = {}, []
    for name in RUNS:
        lines = (LOGS / name).read_text().splitlines()
        head = json.loads(lines[0])
        heads.append((name, head))
        for line in lines[1:]:
            if line.startswith("| vim_"):
                shape = line.split("|")[1].strip()
                rows.setdefault(shape, line + f" {name.split('_')[0]} |")  # first run that measured it
    print("# Triton selective scan v3: full kernel benchmark (NVIDIA H200)\n")
    print("Three runs of `python -m vimbench.kernels.bench` (the first two cut by their time limit,")
    print("the third measured the remaining shapes); each row is from the first run that measured it.\n")
    for name, h in heads:
        print(f"- {name.split('_')[0]}: {h['gpu']}, torch {h['torch']}, triton {h['triton']}, "
              f"copy {h['copy_GBps']:.0f} GB/s, exp2 {h['exp2_per_s']:.3g}/s (measured in that run)")
    print("\nms = CUDA-event median (triton do_bench); CUDA graph = the same call replayed from a")
    print("graph (no Python launch overhead); GB/s = minimum bytes / time; rel err vs a float64")
    print("reference on the first and last batch element, checked before timing.\n")
    print("| shape | ms (median) | p10-p90 | ms (CUDA graph) | GB/s | of copy BW | exp floor ms | "
          "of exp floor | rel err vs f64 | run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    missing = []
    for s in default_shapes():
        if s.name in rows:
            print(rows[s.name])
        else:
            missing.append(s.name)
    if missing:
        print(f"\nNot measured: {', '.join(missing)}")


if __name__ == "__main__":
    main()
