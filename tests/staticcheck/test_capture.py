"""The captured launches are the ones the scan's own heuristics make for an H100.

Runs in a subprocess: capturing needs real @triton.jit objects, i.e. kernels imported
without TRITON_INTERPRET (which this test session sets).
"""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent("""
    import json, torch
    from mamba_triton.selective_scan import plan_scan
    from mamba_triton.shapes import SCAN_CASES
    from vimbench.staticcheck.scan_configs import static_configs
    from vimbench.staticcheck.capture import fake_cuda
    from vimbench.staticcheck.spec import Pointer

    configs = static_configs()
    with fake_cuda():
        plans = {c.name: plan_scan(c.batch, c.dim, c.L, c.N, torch.device("cuda"),
                                   dt_rank=c.dt_rank if c.direction == "bidirdt" else 0) for c in SCAN_CASES}
    print(json.dumps({
        "configs": [dict(name=c.name, kernel=c.kernel.__name__, num_warps=c.num_warps,
                         constexprs={k: v for k, v in c.constexprs.items() if isinstance(v, (int, bool))},
                         elements=c.elements_per_iteration,
                         aligned=[v.aligned for v in c.args.values() if isinstance(v, Pointer)])
                    for c in configs],
        "plans": {name: dict(scheme=p.scheme, block_d=p.block_d, num_warps=p.num_warps, T=p.steps_per_group)
                  for name, p in plans.items()},
    }))
""")


def test_captured_launches_follow_plan_scan():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    by_case: dict[str, list] = {}
    for config in result["configs"]:
        by_case.setdefault(config["name"].split("/")[0], []).append(config)
    assert set(by_case) == set(result["plans"])
    for case, configs in by_case.items():
        plan = result["plans"][case]
        # direct: one launch; chunked: segment states, carry, segment outputs
        assert len(configs) == (1 if plan["scheme"] == "direct" else 3), (case, plan)
        for config in configs:
            if config["kernel"] == "_carry_kernel":
                continue
            c = config["constexprs"]
            assert (c["BLOCK_D"], c["T"], config["num_warps"]) == (
                plan["block_d"],
                plan["T"],
                plan["num_warps"],
            )
            assert c["FAST_EXP"] is True  # compiled as on the GPU, not as under the interpreter
            assert config["elements"] == c["T"] * c["BLOCK_D"] * c.get("N", c.get("NP"))
            # B and C are slices of x_proj's output: 12 and 28 elements in, not 16-byte aligned
            assert False in config["aligned"] and True in config["aligned"]
