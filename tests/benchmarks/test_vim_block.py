"""One full Vim-Ti block (add + RMSNorm + bidirectional mixer with the Triton scan) on the GPU.

    pytest tests/benchmarks --benchmark-only --benchmark-json=block.json

Ids `test_vim_block[<res>-b<batch>-<unfused|fused>]` are the keys the compare gate
matches.  Shapes are the scan benchmarks' (Vim-Ti at 224 and 1248 px, batch 1 and 128,
bf16 activations, fp32 residual as in the middle of the network).
"""

import pytest
import torch

pytestmark = pytest.mark.gpu

CASES = [(224, 1), (224, 128), (1248, 1), (1248, 128)]


@pytest.mark.parametrize("fused", [False, True], ids=["unfused", "fused"])
@pytest.mark.parametrize("resolution, batch", CASES, ids=[f"{r}-b{b}" for r, b in CASES])
def test_vim_block(gpu_benchmark, resolution, batch, fused):
    from vimbench.models.vim import vim

    model = vim("tiny", img_size=resolution, scan_backend="triton", fused=fused)
    block = model.layers[0].to(device="cuda", dtype=torch.bfloat16).eval()
    tokens, dim = model.num_tokens, model.embed_dim
    del model
    hidden = torch.randn(batch, tokens, dim, device="cuda", dtype=torch.bfloat16)
    residual = torch.randn(batch, tokens, dim, device="cuda", dtype=torch.float32)
    with torch.inference_mode():
        out, new_residual = block(hidden, residual)
        assert torch.isfinite(out).all() and out.shape == hidden.shape
        del out, new_residual
        gpu_benchmark(
            lambda: block(hidden, residual),
            items=batch * tokens,
            resolution=resolution,
            batch=batch,
            tokens=tokens,
            fused=fused,
        )
