"""GPU: the `triton` and `torch` scan backends agree on a full Vim-Ti forward (24 layers,
random weights and inputs) at 224 and 1248 (6085 tokens), fp32 and bf16.

The torch backend is the Python-loop reference (6085 steps x 2 directions x 24 layers at
1248: seconds, not minutes, on an H100).  Each case prints one line; with
VIM_GPU_REPORT=<file> the lines are also appended there as CSV.
"""

import os

import pytest
import torch
from test_vim_common import rel_err

from vimbench.models.vim import vim

pytestmark = pytest.mark.gpu

TOL = {torch.float32: 1e-4, torch.bfloat16: 2e-2}
CASES = [(224, 2, torch.float32), (224, 2, torch.bfloat16), (1248, 1, torch.float32), (1248, 1, torch.bfloat16)]


@pytest.mark.parametrize("img,batch,dtype", CASES, ids=[f"{i}-b{b}-{str(d)[6:]}" for i, b, d in CASES])
@torch.no_grad()
def test_vim_tiny_triton_matches_torch_on_gpu(img, batch, dtype):
    pytest.importorskip("mamba_triton.selective_scan", reason="kernel package missing")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    ref = vim("tiny", img_size=img, scan_backend="torch")
    tri = vim("tiny", img_size=img, scan_backend="triton")
    tri.load_state_dict(ref.state_dict())
    ref, tri = ref.to("cuda", dtype).eval(), tri.to("cuda", dtype).eval()
    x = torch.randn(batch, 3, img, img, device="cuda", dtype=dtype)
    want = ref.forward_features(x, return_tokens=True)
    got = tri.forward_features(x, return_tokens=True)
    tokens_err = rel_err(want, got)
    feats_err = rel_err(want[:, ref.cls_index], tri.forward_features(x))
    finite = bool(torch.isfinite(got).all())
    line = (f"vim_tiny,{img},{ref.num_tokens},{batch},{str(dtype)[6:]},{tokens_err:.3e},{feats_err:.3e},"
            f"{TOL[dtype]:.0e},{finite},{torch.cuda.get_device_name()}")
    print("\n" + line)
    if os.environ.get("VIM_GPU_REPORT"):
        with open(os.environ["VIM_GPU_REPORT"], "a") as f:
            f.write(line + "\n")
    assert finite
    assert tokens_err < TOL[dtype] and feats_err < TOL[dtype], line
