"""Vim-Ti vs DeiT-Ti (sdpa) forward_features throughput, side by side on one card.

    PYTHONPATH=. python reports/e2e/e2e_forward.py --res 1248 --batch 128 --out DIR

Configurations (amp-fp16 autocast, fp32 weights, no_grad):
    vim_tiny   triton         unfused blocks (PyTorch add/RMSNorm and conv1d), Triton scan
    vim_tiny   triton-fused   fused add+RMSNorm and bidirectional conv1d kernels
    vim_tiny   triton-fused   + cuda_graph
    deit_tiny  sdpa           (+ cuda_graph)
Timing is interleaved in rounds (A/B/C/D, A/B/C/D, ...) so drifts hit every config alike;
peak memory (weights + input + activation peak of one eager forward, as the
harness's max_memory_allocated counts it) in its own pass; a torch.profiler table of one forward per Vim
variant shows where the time goes.  Writes e2e.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import torch

from vimbench.exec_modes import prepare
from vimbench.models import create_model


def cuda_ms(run, x, iters):
    samples = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        run(x)
        end.record()
        samples.append((start, end))
    torch.cuda.synchronize()
    return [s.elapsed_time(e) for s, e in samples]


def activation_peak_bytes(run, x):
    """Peak allocated during one forward above what was resident before it (weights,
    input, other configs).  Meaningless for cuda_graph (its pool is allocated at capture)."""
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    run(x)
    torch.cuda.synchronize()
    return torch.cuda.max_memory_allocated() - base


def memory_by_stage(model, run, x):
    """Peak allocated GB inside each top-level stage of one forward (patch embed, every
    block) above what was allocated when the stage started: where the peak is."""
    stages = [("patch_embed", model.patch_embed)] + [(f"layers.{i}", m) for i, m in enumerate(model.layers)]
    peaks, start, handles = {}, {}, []
    for name, module in stages:
        def pre(_m, _a, name=name):
            torch.cuda.reset_peak_memory_stats()
            start[name] = torch.cuda.memory_allocated()
        def post(_m, _a, _o, name=name):
            peaks[name] = (torch.cuda.max_memory_allocated() - start[name]) / 1e9
        handles += [module.register_forward_pre_hook(pre), module.register_forward_hook(post)]
    try:
        run(x)
        torch.cuda.synchronize()
    finally:
        for h in handles:
            h.remove()
    return peaks


def profile_table(run, x, rows=18):
    from torch.profiler import ProfilerActivity, profile

    run(x)
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run(x)
        torch.cuda.synchronize()
    averages = prof.key_averages()
    for key in ("self_device_time_total", "self_cuda_time_total"):  # the name changed across torch versions
        try:
            return averages.table(sort_by=key, row_limit=rows, max_name_column_width=70)
        except Exception:  # noqa: BLE001 - try the older name
            continue
    return averages.table(row_limit=rows)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--res", type=int, default=1248)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--configs", default="vim_tiny/triton/eager,vim_tiny/triton-fused/eager,vim_tiny/triton/cuda_graph,"
                                         "vim_tiny/triton-fused/cuda_graph,deit_tiny/sdpa/eager,deit_tiny/sdpa/cuda_graph")
    p.add_argument("--profile", default="vim_tiny/triton/eager,vim_tiny/triton-fused/eager")
    p.add_argument("--mem-stages", default="vim_tiny/triton-fused/eager")
    p.add_argument("--out", default=os.environ.get("OUT", "."))
    args = p.parse_args(argv)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False

    x = torch.randn(args.batch, 3, args.res, args.res, device="cuda")
    cells = {}
    errors = {}
    for key in args.configs.split(","):
        name, variant, mode = key.split("/")
        try:
            torch.manual_seed(0)  # the same weights for every variant of a model
            model = create_model(name, variant, img_size=args.res).cuda().eval()
            t0 = time.perf_counter()
            run, setup_s = prepare(model.forward_features, x, mode, autocast_dtype=torch.float16)
            if mode == "eager":  # first call (JIT, cuDNN, allocator) outside the samples
                run(x)
                torch.cuda.synchronize()
            first_s = time.perf_counter() - t0
            out = run(x)
        except Exception as err:  # one failing config must not hide the others' numbers
            errors[key] = f"{type(err).__name__}: {err}"
            print(f"FAILED {key}: {errors[key]}", flush=True)
            continue
        cells[key] = dict(model=name, variant=variant, exec_mode=mode, run=run, model_obj=model,
                          setup_s=setup_s, first_s=first_s, samples=[],
                          out_finite=bool(torch.isfinite(out.float()).all()))
        print(f"built {key}: setup {setup_s:.2f}s first {first_s:.2f}s", flush=True)
    for key, c in cells.items():
        c["act_peak_bytes"] = activation_peak_bytes(c["run"], x) if c["exec_mode"] != "cuda_graph" else None
        c["weight_bytes"] = sum(t.numel() * t.element_size() for t in c["model_obj"].parameters())
    for _ in range(args.rounds):
        for c in cells.values():
            c["run"](x)  # one untimed call after switching configs
            c["samples"] += cuda_ms(c["run"], x, args.iters)

    # fused vs unfused outputs: the same function up to fp16 rounding
    fused_vs_unfused = None
    if "vim_tiny/triton/eager" in cells and "vim_tiny/triton-fused/eager" in cells:
        a = cells["vim_tiny/triton/eager"]
        b = cells["vim_tiny/triton-fused/eager"]
        sa, sb = a["model_obj"].state_dict(), b["model_obj"].state_dict()
        assert all(torch.equal(sa[k], sb[k]) for k in sa), "fused and unfused Vim got different weights"
        ya, yb = a["run"](x).float(), b["run"](x).float()
        fused_vs_unfused = ((ya - yb).norm() / ya.norm()).item()

    tables = {}
    for key in filter(None, args.profile.split(",")):
        if key in cells:
            try:
                tables[key] = profile_table(cells[key]["run"], x)
            except Exception as err:  # noqa: BLE001 - the timings above stand without it
                tables[key] = f"profile failed: {type(err).__name__}: {err}"

    mem_stages = {}
    for key in filter(None, args.mem_stages.split(",")):
        if key in cells:
            try:
                mem_stages[key] = memory_by_stage(cells[key]["model_obj"], cells[key]["run"], x)
            except Exception as err:  # noqa: BLE001
                mem_stages[key] = {"error": f"{type(err).__name__}: {err}"}

    rows = []
    x_bytes = x.numel() * x.element_size()
    for key, c in cells.items():
        med = statistics.median(c["samples"])
        rows.append(dict(config=key, model=c["model"], variant=c["variant"], exec_mode=c["exec_mode"],
                         res=args.res, batch=args.batch, precision="amp-fp16",
                         ms_median=med, ms_min=min(c["samples"]), ms_max=max(c["samples"]),
                         images_per_s=args.batch / med * 1e3,
                         peak_gb=(c["act_peak_bytes"] + c["weight_bytes"] + x_bytes) / 1e9
                         if c["act_peak_bytes"] is not None else None,
                         setup_s=c["setup_s"], first_call_s=c["first_s"], out_finite=c["out_finite"],
                         samples_ms=c["samples"]))
    deit = next((r for r in rows if r["config"] == "deit_tiny/sdpa/eager"), None)
    for r in rows:
        if deit:
            r["speed_vs_deit_sdpa_eager"] = r["images_per_s"] / deit["images_per_s"]
            r["mem_vs_deit_sdpa_eager"] = r["peak_gb"] / deit["peak_gb"] if r["peak_gb"] is not None else None
    meta = dict(card=torch.cuda.get_device_name(), torch=torch.__version__,
                triton=__import__("triton").__version__, fused_vs_unfused_rel_err=fused_vs_unfused,
                tf32=False, errors=errors, argv=argv or __import__("sys").argv[1:])
    with open(os.path.join(args.out, "e2e.json"), "w") as f:
        json.dump(dict(meta=meta, rows=rows, profiles=tables, memory_by_stage_gb=mem_stages), f, indent=1)
    for key, t in tables.items():
        print(f"\n## profile {key}\n{t}")
    for key, peaks in mem_stages.items():
        print(f"\n## peak allocated GB inside each stage above its start, {key}: " +
              ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}" for k, v in peaks.items()))
    print(f"\n# {meta}")
    nan = float("nan")
    print(f"{'config':36} {'ms':>8} {'img/s':>8} {'peakGB':>7} {'xDeiT':>6} {'memx':>6} {'setup_s':>7}")
    for r in rows:
        print(f"{r['config']:36} {r['ms_median']:8.2f} {r['images_per_s']:8.1f} {r['peak_gb'] or nan:7.2f} "
              f"{r.get('speed_vs_deit_sdpa_eager') or nan:6.2f} {r.get('mem_vs_deit_sdpa_eager') or nan:6.2f} "
              f"{r['setup_s']:7.2f}")


if __name__ == "__main__":
    main()
