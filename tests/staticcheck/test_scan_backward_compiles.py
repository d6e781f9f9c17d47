"""The scan's backward kernels compile for sm_90 (H100) at a Vim-Ti shape, without spills.

The kernel tests run them under the Triton interpreter only; this compiles what the
launcher would launch on an H100 (captured on fake CUDA tensors, as in test_capture.py),
so a construct the compiler rejects, or a tiling that spills, fails on CPU-only CI.
Runs in a subprocess: compiling needs kernels imported without TRITON_INTERPRET.
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
    from mamba_triton.selective_scan import selective_scan_bwd
    from vimbench.staticcheck.capture import capture, to_config
    from vimbench.staticcheck.sass import read_resources
    from vimbench.staticcheck.toolchain import compile_config

    def call(reverse, z, batch):
        dim, L, N, R = 384, 1025, 16, 12  # Vim-Ti at 512 px, bf16, Vim's layouts
        u = torch.empty(batch, L, dim, device="cuda", dtype=torch.bfloat16).transpose(1, 2)
        proj = torch.empty(batch, L, R + 2 * N, device="cuda", dtype=torch.bfloat16)
        B, C = proj[:, :, R:R + N].transpose(1, 2), proj[:, :, R + N:].transpose(1, 2)
        A, D = torch.empty(dim, N, device="cuda"), torch.empty(dim, device="cuda")
        selective_scan_bwd(u, u, u, A, B, C, D=D, z=u if z else None, delta_bias=D, delta_softplus=True,
                           reverse=reverse)

    rows = []
    # batch 128: one segment; batch 4: time in segments (segment-end pass and carries too)
    for reverse, z, batch in ((False, True, 128), (True, False, 128), (False, True, 4)):
        for i, launch in enumerate(capture(lambda: call(reverse, z, batch))):
            r = read_resources(compile_config(to_config(launch, f"bwd{i}")).cubin)
            rows.append(dict(kernel=launch.kernel.__name__, reverse=reverse, registers=r.registers,
                             stack=r.stack_bytes))
    print(json.dumps(rows))
""")


def test_backward_kernels_compile_for_sm90_without_spills():
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted({r["kernel"] for r in rows}) == ["_carry_kernel", "_checkpoints_kernel", "_scan_bwd_kernel",
                                                   "_segment_ends_kernel"]
    for r in rows:
        assert r["stack"] == 0, r  # spills would show as stack bytes
