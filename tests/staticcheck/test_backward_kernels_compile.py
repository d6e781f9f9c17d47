"""The backward kernels of mamba_triton (add + RMSNorm, causal and bidirectional conv1d, the
selective scan's two backward kernels) compile for sm_90
here (no GPU) at their default launch shapes, without register spills.  The kernel tests
run them under the interpreter only, which accepts code a GPU compile would reject."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
REPO = HERE.parent.parent


@pytest.mark.slow
def test_backward_kernels_compile_without_spills(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["PYTHONPATH"] = os.pathsep.join([str(HERE), str(REPO), str(REPO / "kernels"), env.get("PYTHONPATH", "")])
    out = tmp_path / "bwd.json"
    done = subprocess.run(
        [sys.executable, "-m", "vimbench.staticcheck", "--configs", "backward_configs:STATIC_CONFIGS",
         "--record", "--baseline", str(out)],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    configs = json.loads(out.read_text())["configs"]
    assert len(configs) == 10
    for name, m in configs.items():
        # measured at 96-154 registers with triton 3.6/3.8; 168 leaves room for a compiler change.
        # _scan_bwd_kernel (T 2, BLOCK_D 32, one warp) measured at 255 registers, no spills, at the
        # Vim-Ti 224 px batch 64 shape (a channel's 2 x 16 recomputed states and the group's B/C
        # scalars live at once): it fits only under the hardware cap, so that cap is its bar.
        bar = 255 if "scan_bwd-" in name else 168
        assert m["spill_instructions"] == 0 and m["local_bytes"] == 0, f"{name}: spills {m}"
        assert m["registers"] <= bar, f"{name}: {m['registers']} registers"
