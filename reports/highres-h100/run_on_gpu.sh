#!/usr/bin/env bash
# The committed highres run: DeiT-Ti (sdpa) and Vim-Ti (triton, triton-fused) side by side
# in one run on one card, then DeiT-Ti eager (the paper's baseline, slow and OOM at 1248)
# in a second run directory on the same machine. `vimbench report --combine` pools them.
# Usage (device machine, repo root): bash reports/highres-h100/run_on_gpu.sh "$OUT"
set -u
out=${1:?output dir}
export PYTHONUNBUFFERED=1 PYTHONPATH=.
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv > "$out/nvidia_smi.csv"
git rev-parse HEAD > "$out/commit.txt" 2>/dev/null || true
python3 -m vimbench run --suite highres --only variant=sdpa,triton,triton-fused --runs-dir "$out/main" 2>&1 | tee "$out/main.log"
python3 -m vimbench run --suite highres --only variant=eager --runs-dir "$out/eager" 2>&1 | tee "$out/eager.log"
