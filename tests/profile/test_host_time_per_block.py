"""benchmarks/host_time_per_block.py on a small Vim: with the kernels elided every block still
makes its three Triton launches (none runs: the interpreter would take seconds), and the
time it reports is a positive per-block figure.  Runs in a subprocess, so that
TRITON_INTERPRET=1 is set before the kernels are imported."""

import json
import os
import random
import subprocess
import sys
import textwrap

from tests.harness.conftest import REPO_ROOT

SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys, time
    spec = importlib.util.spec_from_file_location("host_time", sys.argv[1])
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    start = time.perf_counter()
    us, launches, _ = script.time_per_block(px=32, batch=2, repeats=2, iters=2, depth=int(sys.argv[2]))
    print(json.dumps(dict(us=us, launches=launches, wall=time.perf_counter() - start)))
""")


def test_launches_elided_and_time_per_block():
    depth = random.randint(1, 3)
    env = dict(os.environ, TRITON_INTERPRET="1")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "kernels"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO_ROOT / "benchmarks" / "host_time_per_block.py"),
                           str(depth)], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["launches"] == 3 * depth  # add+RMSNorm, the two-direction conv, the two-direction scan
    assert out["us"] > 0
    # 8 forwards of a tiny model take well under a second; with a kernel running in the
    # interpreter each block takes ~2 s
    assert out["wall"] < 12, out
