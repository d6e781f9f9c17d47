"""Compiled (traced ops) against eager Vim-Ti features, fp32 and amp-fp16, 224 px b8 (ad-hoc, session 4)."""
import torch
from vimbench import exec_modes
from vimbench.models import create_model
from mamba_triton import ops
print("compiled ops:", ops.COMPILED_OPS)
torch.manual_seed(0)
model = create_model("vim_tiny", "triton-fused", 224).cuda().eval()
x = torch.randn(8, 3, 224, 224, device="cuda")
for dtype in (None, torch.float16):
    eager, _ = exec_modes.prepare(model.forward_features, x, "eager", autocast_dtype=dtype)
    comp, s = exec_modes.prepare(model.forward_features, x, "compile", autocast_dtype=dtype)
    a, b = eager(x).float(), comp(x).float()
    err = (a - b).abs().max().item(); rel = ((a - b).norm() / a.norm()).item()
    print(f"{'fp32' if dtype is None else 'amp-fp16'}: compile {s:.1f} s, max abs {err:.2e}, rel {rel:.2e}, finite {bool(torch.isfinite(b).all())}")
    torch._dynamo.reset()
