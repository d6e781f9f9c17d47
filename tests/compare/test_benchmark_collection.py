"""Without CUDA the GPU benchmarks are collected and skipped with a reason, never errors."""

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BENCHMARKS = ["tests/benchmarks", "tests/kernels/test_bench_scan.py"]


def test_gpu_benchmarks_skip_without_cuda(tmp_path):
    targets = [t for t in BENCHMARKS if (REPO / t).exists()]
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")  # hides a GPU where there is one
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            *targets,
            f"--benchmark-json={tmp_path / 'bench.json'}",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "error" not in out.lower().replace("errors=0", ""), out
    assert "skipped" in out and "needs a CUDA device" in out, out
    assert " passed" not in out, out  # nothing ran as if a GPU were there
