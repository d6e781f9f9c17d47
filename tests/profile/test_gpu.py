"""`vimbench profile` on a CUDA device: kernels, memory parts, telemetry, roofline (skipped without one)."""

import pandas as pd
import pytest

from vimbench.cli import main as cli_main

pytestmark = pytest.mark.gpu


def test_gpu_profile_small_cells(tmp_path):
    rc = cli_main(["profile", "--device", "cuda", "--target", "vim_tiny:triton:64:4", "--target",
                   "deit_tiny:eager:64:4", "--precision", "amp-fp16", "--warmup", "2", "--timed-iters", "5",
                   "--timed-min-s", "0.5", "--iters", "2", "--isolation", "inline", "--out", str(tmp_path)])
    assert rc == 0
    summary = pd.read_csv(tmp_path / "summary.csv").set_index("model")
    assert set(summary["status"]) == {"ok"}
    cats = pd.read_csv(tmp_path / "categories.csv").set_index(["model", "category"])["ms_per_iter"]
    assert cats[("vim_tiny", "scan")] > 0 and cats[("vim_tiny", "gemm")] > 0
    assert cats[("deit_tiny", "attention")] > 0 and cats[("deit_tiny", "scan")] == 0
    # the peak splits into parts that add up to the allocator's peak
    memory = pd.read_csv(tmp_path / "memory.csv")
    for cell, parts in memory.groupby("cell"):
        allocated = parts[~parts["part"].str.contains("slack|context")]["bytes"].sum()
        assert allocated == summary.loc[summary["cell"] == cell, "mem_peak_allocated_bytes"].iloc[0]
    vim = summary.loc["vim_tiny"]
    assert 0 < vim["scan_fraction_of_copy_bw"] < 2 and 0 < vim["scan_fraction_of_exp2"] < 2
    assert (tmp_path / "memory.png").exists()
