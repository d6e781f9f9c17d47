"""Rebuild a profile report from its raw results (results.pkl) and Chrome traces.

Used once for reports/profiles/h100-80gb-hbm3/: the device run's in-memory kernel lists
(torch 2.11) attached some kernels to several operators and overcounted (e.g. 73 instead
of 48 conv1d kernels per forward), so the per-kernel and per-category numbers were
recomputed from the exported traces, where each kernel event appears once (now the
profiler's own path: vimbench/profile/trace.py).  Latency, memory and telemetry are the
run's own measurements, unchanged.

    python reports/profiles/rebuild_from_traces.py RESULTS_DIR TRACES_DIR OUT_DIR
"""

import pickle
import sys
from pathlib import Path

from vimbench.profile.breakdown import category_table, kernel_table
from vimbench.profile.command import write_report
from vimbench.profile.roofline import Ceilings, ScanShape, scan_roofline
from vimbench.profile.trace import load_trace, trace_kernel_records

ITERS = 3  # profiled forwards per cell in that run (--iters default)
COMMAND = ("vimbench profile --device cuda --precision amp-fp16 --target vim_tiny:triton:1248:128 "
           "--target deit_tiny:sdpa:1248:128 --target deit_tiny:eager:1248:32 --target vim_tiny:triton:224:128 "
           "--target deit_tiny:sdpa:224:128 --target deit_tiny:eager:224:128 --target vim_tiny:triton-fused:1248:128"
           "  (reports/profiles/run_gpu.sh)")


def main(results_dir: Path, traces_dir: Path, out_dir: Path) -> None:
    results = pickle.loads((results_dir / "results.pkl").read_bytes())
    out_dir.mkdir(parents=True, exist_ok=True)
    for r in results:
        if r.status != "ok":
            continue
        trace = traces_dir / f"trace-{r.slug}.json.gz"
        records = trace_kernel_records(load_trace(trace))
        r.categories, r.kernels = category_table(records, ITERS), kernel_table(records, ITERS)
        busy = float(r.categories["ms_per_iter"].sum())
        r.summary["profiled_ms_per_iter"] = busy
        r.summary["gpu_busy_fraction"] = busy / r.summary["latency_ms_median"]
        for row in r.categories.itertuples():
            r.summary[f"share_{row.category}"] = row.share
        if "scan_min_bytes" in r.summary:
            s = r.summary
            shape = ScanShape(24, 2, 384, 16, r.tokens, r.target["batch"], s["scan_elem_bytes"])
            scan = r.kernels[r.kernels["category"] == "scan"]
            ceilings = Ceilings(s["copy_ceiling_gb_per_s"] * 1e9, s["exp2_ceiling_per_s"], s["exp2_ceiling_source"])
            s.update(scan_roofline(shape, float(scan["ms_per_iter"].sum()),
                                   bool(scan["kernel"].str.contains("bidir", case=False).any()), ceilings))
        r.notes.append("kernel breakdown recomputed from the Chrome trace (reports/profiles/rebuild_from_traces.py)")
        r.trace_path = None
    write_report(results, out_dir, COMMAND, top_n=15)
    (out_dir / "results.pkl").unlink(missing_ok=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3]))
