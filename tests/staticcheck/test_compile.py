"""End to end on toy kernels compiled for sm_90 here (no GPU): record, then catch changes.

Runs `python -m vimbench.staticcheck` in a subprocess because kernels must be imported
without TRITON_INTERPRET, which this test session sets.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent


def staticcheck(*args):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "vimbench.staticcheck", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=600,
    )


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("static")
    baseline = folder / "sm90.json"
    done = staticcheck("--configs", "toy_kernels:STATIC_CONFIGS", "--record", "--baseline", str(baseline))
    assert done.returncode == 0, done.stdout + done.stderr
    return baseline


def test_recorded_metrics_describe_the_kernel(recorded):
    document = json.loads(recorded.read_text())
    assert document["target"] == "sm_90" and "--record" in document["command"]
    m = document["configs"]["toy_scan/bench"]
    assert m["kernel"] == "toy_scan" and m["num_warps"] == 4
    assert 0 < m["registers"] <= 255 and m["spill_instructions"] == 0 and m["local_bytes"] == 0
    loop = m["hot_loop"]
    assert loop["region"] == "loop" and loop["elements_per_iteration"] == 64 * 16
    # one exp2 per (channel, state) element per step, nothing more
    assert loop["per_element"]["mufu_ex2"] == pytest.approx(1.0)
    # the [64, 16] fp32 `a` tile is read with 128-bit vector loads
    assert "128" in m["global_load_widths"]


def test_unchanged_kernel_passes(recorded):
    # same source, launch and compiler: the recorded metrics stand (no compile) ...
    done = staticcheck("--configs", "toy_kernels:STATIC_CONFIGS", "--baseline", str(recorded))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 configurations unchanged since the baseline (fingerprint), 0 to compile" in done.stdout
    assert "PASS: 1 configurations" in done.stdout
    # ... and compiling again anyway gives the same numbers
    full = staticcheck("--configs", "toy_kernels:STATIC_CONFIGS", "--baseline", str(recorded), "--full")
    assert full.returncode == 0, full.stdout + full.stderr
    assert "0 configurations unchanged since the baseline (fingerprint), 1 to compile" in full.stdout


def test_smaller_block_is_caught(recorded):
    done = staticcheck("--configs", "toy_kernels:SLOWED_CONFIGS", "--baseline", str(recorded))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "0 configurations unchanged since the baseline (fingerprint), 1 to compile" in done.stdout
    assert "FAIL toy_scan/bench: hot loop instructions per element" in done.stdout


def test_spills_are_caught(recorded):
    done = staticcheck("--configs", "toy_kernels:SPILL_CONFIGS", "--baseline", str(recorded))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FAIL toy_scan/bench: spills" in done.stdout


def test_usage_errors_exit_2(recorded, tmp_path):
    assert staticcheck("--configs", "toy_kernels:NOPE", "--baseline", str(recorded)).returncode == 2
    missing = staticcheck(
        "--configs", "toy_kernels:STATIC_CONFIGS", "--baseline", str(tmp_path / "none.json")
    )
    assert missing.returncode == 2 and "--record" in missing.stderr
