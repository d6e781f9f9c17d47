"""The `triton` scan backend against the `torch` reference on a whole (small) Vim forward.

On the CPU the kernel runs under TRITON_INTERPRET=1 (set by tests/conftest.py); on a GPU
the same test runs on CUDA.  The GPU check at the real sizes (Vim-Ti at 224 and 1248) is
test_vim_gpu.py.
"""

import pytest
import torch
from test_vim_common import assert_close, randomize_, tiny_vim

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
TOL = {torch.float32: 1e-4, torch.bfloat16: 2e-2}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=["fp32", "bf16"])
@torch.no_grad()
def test_triton_backend_matches_torch_backend_on_full_forward(dtype):
    ref = tiny_vim(img_size=48, scan_backend="torch")  # 9 patches + cls = 10 tokens
    randomize_(ref, scale=0.1)
    tri = tiny_vim(img_size=48, scan_backend="triton")
    tri.load_state_dict(ref.state_dict())
    ref, tri = ref.to(DEVICE, dtype), tri.to(DEVICE, dtype)
    x = torch.randn(2, 3, 48, 48, device=DEVICE, dtype=dtype)
    want, got = ref.forward_features(x, return_tokens=True), tri.forward_features(x, return_tokens=True)
    assert got.dtype == dtype
    assert_close(f"tokens {dtype}", want, got, TOL[dtype])
    assert_close(f"features {dtype}", want[:, ref.cls_index], tri.forward_features(x), TOL[dtype])


def test_triton_backend_is_recorded():
    model = tiny_vim(scan_backend="triton")
    assert model.scan_backend == "triton"
    assert {layer.mixer.scan_backend for layer in model.layers} == {"triton"}
