"""The paper's code path on the official CUDA kernels, checked against our float64 reference.

    PYTHONPATH=. python benchmarks/check_official.py [--resolutions 224 1024] [--batch 2] [--out DIR]
        [--variants official triton-fused]

One set of random Vim-Ti weights (the official init, every parameter then perturbed so no
symmetry of the init hides a wrong index) is loaded into three models:
- the reference: VisionMamba with the pure-PyTorch scan, in float64 on the GPU;
- `official` (vimbench.models.vim_official on mamba_ssm / causal_conv1d kernels);
- `triton-fused` (vimbench's own kernels), for scale.
Each runs in fp32 (TF32 off), amp-fp16 and amp-bf16; the cls features and the whole normed
token map are compared with the reference by relative L2 error and max abs error.  At
1024 px (4097 tokens) the official scan kernel runs in several 2048-token chunks, so both
of its code paths are covered.  Writes check_official.json and .md under --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from vimbench.models import create_model
from vimbench.testing import rel_err

PRECISIONS = {"fp32": None, "amp-fp16": torch.float16, "amp-bf16": torch.bfloat16}
# Pass bounds for 24 layers of error growth: fp32 ~1e-5 per kernel, 16-bit ~1e-2.
BOUNDS = {"fp32": 1e-3, "amp-fp16": 5e-2, "amp-bf16": 5e-2}


@torch.no_grad()
def perturb_(model: torch.nn.Module, scale: float = 0.1) -> None:
    for p in model.parameters():
        p.add_(torch.randn_like(p) * scale * (p.abs().mean() + 0.1))


VARIANTS = ("official", "triton-fused")


@torch.no_grad()
def run(model, images, autocast_dtype):
    with torch.autocast("cuda", dtype=autocast_dtype or torch.float16, enabled=autocast_dtype is not None):
        return model.forward_features(images, return_tokens=True)


def check(resolution: int, batch: int, variants=VARIANTS) -> list[dict]:
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    reference = create_model("vim_tiny", "torch", resolution).cuda().double().eval()
    perturb_(reference)
    state = reference.state_dict()
    images = torch.randn(batch, 3, resolution, resolution, device="cuda", dtype=torch.float64)
    started = time.perf_counter()
    want = run(reference, images, None)
    ref_s = time.perf_counter() - started
    cls = reference.cls_index
    rows = []
    for variant in variants:
        model = create_model("vim_tiny", variant, resolution).cuda().eval()
        model.load_state_dict(state, strict=True)
        for precision, dtype in PRECISIONS.items():
            got = run(model, images.float(), dtype)
            finite = bool(torch.isfinite(got).all())
            row = {"variant": variant, "precision": precision, "resolution": resolution, "batch": batch,
                   "tokens": want.shape[1], "finite": finite,
                   "rel_err_tokens": rel_err(want, got), "rel_err_cls": rel_err(want[:, cls], got[:, cls]),
                   "max_abs_err_tokens": (got.double() - want).abs().max().item(),
                   "max_abs_ref": want.abs().max().item(), "bound": BOUNDS[precision]}
            row["pass"] = finite and row["rel_err_tokens"] < row["bound"]
            rows.append(row)
            print(f"{resolution:5d}px {variant:13s} {precision:9s} rel {row['rel_err_tokens']:.2e} "
                  f"(cls {row['rel_err_cls']:.2e}) max abs {row['max_abs_err_tokens']:.2e} "
                  f"{'ok' if row['pass'] else 'FAIL'}", flush=True)
        del model
    print(f"  (float64 reference took {ref_s:.1f} s)", flush=True)
    return rows


def markdown(rows: list[dict], header: dict) -> str:
    lines = [f"# Official Vim-Ti path vs float64 reference ({header['gpu']})", "",
             f"torch {header['torch']}; official kernels: {header['official']}", "",
             "| resolution | tokens | variant | precision | rel. L2 error (tokens) | rel. error (cls) "
             "| max abs error | max abs ref | bound | |", "|---:|---:|---|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['resolution']} | {r['tokens']} | {r['variant']} | {r['precision']} "
                     f"| {r['rel_err_tokens']:.2e} | {r['rel_err_cls']:.2e} | {r['max_abs_err_tokens']:.2e} "
                     f"| {r['max_abs_ref']:.2f} | {r['bound']:.0e} | {'pass' if r['pass'] else 'FAIL'} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[224, 1024])
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("."))
    ap.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS),
                    help="triton-fused alone checks our kernels' model accuracy without the official build")
    args = ap.parse_args()
    torch.manual_seed(0)
    official = "not loaded (--variants without official)"
    if "official" in args.variants:
        from vimbench.official import load_official_ops

        ops = load_official_ops()
        official = f"{ops.origin} {json.dumps(ops.build.get('packages', {}))}"
    rows = [row for resolution in args.resolutions for row in check(resolution, args.batch, args.variants)]
    header = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "official": official}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "check_official.json").write_text(json.dumps({**header, "rows": rows}, indent=2) + "\n")
    (args.out / "check_official.md").write_text(markdown(rows, header))
    return 0 if all(r["pass"] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
