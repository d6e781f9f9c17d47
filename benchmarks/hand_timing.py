"""Plain-PyTorch cross-check of `vimbench run`: timm DeiT-Ti features, amp-fp16, batch 128, CUDA events.
Usage: python3 benchmarks/hand_timing.py RES [RES ...]  ->  one JSON line per (attention, resolution)."""
import json
import statistics
import sys

import timm
import torch

torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
for attention in ("eager", "sdpa"):
    for res in [int(r) for r in sys.argv[1:]]:
        model = timm.create_model("deit_tiny_patch16_224", img_size=res).cuda().eval()
        for m in model.modules():
            if hasattr(m, "fused_attn"):
                m.fused_attn = attention == "sdpa"
        x, out = torch.randn(128, 3, res, res, device="cuda"), {"attention": attention, "resolution": res}
        try:
            with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16):
                for _ in range(5):
                    model.forward_features(x)
                events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(30)]
                for start, end in events:
                    start.record()
                    model.forward_features(x)
                    end.record()
                torch.cuda.synchronize()
                torch.cuda.empty_cache()
                torch.cuda.reset_peak_memory_stats()
                model.forward_features(x)
                torch.cuda.synchronize()
            median = statistics.median(s.elapsed_time(e) for s, e in events)
            out.update(median_ms=median, images_per_s=128 / median * 1000, max_allocated_bytes=torch.cuda.max_memory_allocated())
        except torch.OutOfMemoryError as exc:
            out["oom"] = str(exc).splitlines()[0]
        print(json.dumps(out), flush=True)
        del model, x
        torch.cuda.empty_cache()
