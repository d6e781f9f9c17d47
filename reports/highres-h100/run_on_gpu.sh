#!/usr/bin/env bash
# The committed highres run: DeiT-Ti (sdpa) and Vim-Ti (triton, triton-fused) side by side
# in one run on one card, then DeiT-Ti eager (the paper's baseline, slow and OOM at 1248)
# in a second run directory on the same machine. `vimbench report --combine` pools them.
# Usage (device machine, repo root): bash reports/highres-h100/run_on_gpu.sh "$OUT"
set -u
out=${1:?output dir}
work=$(mktemp -d)
export PYTHONUNBUFFERED=1 PYTHONPATH=.
pack() { tar -C "$work" -czf "$out/runs.tgz" . ; }
trap pack EXIT TERM INT   # whatever finished comes back, even past a time limit
python3 -m vimbench run --suite highres --only variant=sdpa,triton,triton-fused --runs-dir "$work/main" 2>&1 | tee "$out/main.log"
pack
timeout "${EAGER_BUDGET_S:-220}" python3 -m vimbench run --suite highres --only variant=eager --runs-dir "$work/eager" 2>&1 | tee "$out/eager.log"
