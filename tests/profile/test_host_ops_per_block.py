"""benchmarks/host_ops_per_block.py on a small Vim without a GPU: every block launches the
three fused Triton kernels once, the counted ATen operations come from our code, and the
count scales with the depth (the per-block figure the script reports).  Runs in a
subprocess: recording launches needs the kernels imported without TRITON_INTERPRET."""

import json
import os
import random
import subprocess
import sys
import textwrap

from tests.harness.conftest import REPO_ROOT

SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    spec = importlib.util.spec_from_file_location("host_ops", sys.argv[1])
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = {}
    for depth in (1, int(sys.argv[2])):
        sites, kernels, blocks = script.count(px=32, batch=2, depth=depth)
        out[depth] = dict(blocks=blocks, kernels=kernels, sites=[[op, site, n] for (op, site), n in sites.items()])
    print(json.dumps(out))
""")


def test_counts_per_block():
    depth = random.randint(2, 3)
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "kernels"), env.get("PYTHONPATH", "")])
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(REPO_ROOT / "benchmarks" / "host_ops_per_block.py"),
                           str(depth)], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    runs = json.loads(done.stdout.strip().splitlines()[-1])
    one, many = runs["1"], runs[str(depth)]
    assert many["blocks"] == depth
    assert many["kernels"] == {"_add_rmsnorm_kernel": depth, "_bidir_conv1d_silu_kernel": depth,
                               "_bidirectional_scan_kernel": depth}
    assert all(site != "(outside vimbench)" for _, site, _ in many["sites"])
    total = lambda run, op=None: sum(n for o, _, n in run["sites"] if op is None or o == op)  # noqa: E731
    # the block's own work: 4 GEMMs (in_proj, x_proj per direction, out_proj), + the patch embedding's
    assert total(many, "aten.linear") == 4 * depth + 1
    assert (total(many) - total(one)) / (depth - 1) >= 4
