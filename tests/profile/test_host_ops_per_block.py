"""benchmarks/host_ops_per_block.py on a small Vim without a GPU: every block launches the
three fused Triton kernels once, the counted ATen operations come from our code, and the
count scales with the depth (the per-block figure the script reports).  Runs in a
subprocess: recording launches needs the kernels imported without TRITON_INTERPRET."""

import random

from tests.profile.benchmark_child import run_benchmark


def test_counts_per_block():
    depth = random.randint(2, 3)
    runs = run_benchmark("host_ops_per_block.py", """
        out = {}
        for depth in (1, int(args[0])):
            sites, kernels, blocks = script.count(px=32, batch=2, depth=depth)
            out[depth] = dict(blocks=blocks, kernels=kernels,
                              sites=[[op, site, n] for (op, site), n in sites.items()])
    """, depth)
    one, many = runs["1"], runs[str(depth)]
    assert many["blocks"] == depth
    assert many["kernels"] == {"_add_rmsnorm_kernel": depth, "_bidir_conv1d_silu_kernel": depth,
                               "_bidirectional_scan_kernel": depth}
    assert all(site != "(outside vimbench)" for _, site, _ in many["sites"])
    total = lambda run, op=None: sum(n for o, _, n in run["sites"] if op is None or o == op)  # noqa: E731
    # the block's own work: 4 GEMMs (in_proj, x_proj per direction, out_proj), + the patch embedding's
    assert total(many, "aten.linear") == 4 * depth + 1
    assert (total(many) - total(one)) / (depth - 1) >= 4
