"""benchmarks/host_time_per_block.py on a small Vim: with the kernels elided every block still
makes its three Triton launches (none runs: the interpreter would take seconds), and the
time it reports is a positive per-block figure.  Runs in a subprocess, so that
TRITON_INTERPRET=1 is set before the kernels are imported."""

import random

from tests.profile.benchmark_child import run_benchmark


def test_launches_elided_and_time_per_block():
    depth = random.randint(1, 3)
    out = run_benchmark("host_time_per_block.py", """
        start = time.perf_counter()
        us, launches, _ = script.time_per_block(px=32, batch=2, repeats=2, iters=2, depth=int(args[0]))
        out = dict(us=us, launches=launches, wall=time.perf_counter() - start)
    """, depth, interpret=True)
    assert out["launches"] == 3 * depth  # add+RMSNorm, the two-direction conv, the two-direction scan
    assert out["us"] > 0
    # 8 forwards of a tiny model take well under a second; with a kernel running in the
    # interpreter each block takes ~2 s
    assert out["wall"] < 12, out
