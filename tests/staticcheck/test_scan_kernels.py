"""The per-commit kernel regression check: the scan kernels, compiled for sm_90 here (no
GPU), must stay within the committed baseline reports/static/sm90.json - no new spills,
no occupancy cliff crossed, no more work per element, no narrower vectors.

A deliberate change re-records the baseline (and the diff shows what changed):
    python -m vimbench.staticcheck --record
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "reports" / "static" / "sm90.json"


@pytest.mark.slow
def test_scan_kernels_within_static_baseline():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, "-m", "vimbench.staticcheck", "--baseline", str(BASELINE)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
    )
    assert done.returncode == 0, (
        f"static kernel check failed (exit {done.returncode}); if the change is intended, re-record with "
        f"`python -m vimbench.staticcheck --record` and commit {BASELINE.relative_to(REPO)}\n"
        f"{done.stdout}\n{done.stderr}"
    )
    assert "PASS:" in done.stdout
