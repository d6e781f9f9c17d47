"""Where the host time of one Vim-Ti 224 px b128 forward goes, per exec mode (ad-hoc, session 4)."""
import sys, time, json, os
import torch
from torch.profiler import profile, ProfilerActivity
from vimbench import exec_modes
from vimbench.models import create_model

out = os.environ.get("OUT", ".")
model_name, variant = sys.argv[1], sys.argv[2]
modes = sys.argv[3].split(",")
res = int(sys.argv[4]) if len(sys.argv) > 4 else 224
torch.manual_seed(0)
dev = "cuda" if torch.cuda.is_available() else "cpu"
sync = torch.cuda.synchronize if dev == "cuda" else (lambda: None)
model = create_model(model_name, variant, res).to(dev).eval()
x = torch.randn(int(os.environ.get("B", 128)), 3, res, res, device=dev)
report = {}
for mode in modes:
    run, setup = exec_modes.prepare(model.forward_features, x, mode, autocast_dtype=torch.float16)
    for _ in range(10):
        run(x)
    sync()
    # host time per forward when the GPU is not the limit: time 20 calls without syncing on a queue that is not full
    t0 = time.perf_counter(); n = 20
    for _ in range(n):
        run(x)
    t_issue = (time.perf_counter() - t0) / n
    sync()
    t_wall = (time.perf_counter() - t0) / n
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(5):
            run(x)
        sync()
    ev = prof.key_averages()
    launches = sum(e.count for e in ev if e.key in ("cudaLaunchKernel", "cuLaunchKernel", "cuLaunchKernelEx", "cudaLaunchKernelExC")) / 5
    kernels = sum(e.count for e in ev if e.device_type == torch.autograd.DeviceType.CUDA) / 5
    print(f"\n=== {model_name} {mode}: setup {setup:.1f}s  issue {t_issue*1e3:.2f} ms/fwd  wall {t_wall*1e3:.2f} ms/fwd  launches {launches:.0f}/fwd  gpu events {kernels:.0f}/fwd")
    table = ev.table(sort_by="self_cpu_time_total", row_limit=28, max_name_column_width=70)
    print(table)
    report[mode] = dict(setup_s=setup, issue_ms=t_issue*1e3, wall_ms=t_wall*1e3, launches=launches, gpu_events=kernels, table=table)
    del run
    torch._dynamo.reset()
json.dump(report, open(f"{out}/host_{model_name}_{res}.json", "w"), indent=1)
