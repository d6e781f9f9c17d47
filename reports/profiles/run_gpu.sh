#!/usr/bin/env bash
# The one device call behind reports/profiles/<card>/: Vim-Ti (Triton scan) and DeiT-Ti
# (eager and SDPA attention) at 224 and 1248 px, amp-fp16, then the GPU test of the profiler.
# Run from the repository root; results land in $OUT (report.tgz, traces.tgz, logs).
#   batch 128 everywhere except DeiT-Ti eager at 1248 (batch 32: its N x N attention
#   matrices need ~28 GB at batch 32 and would not fit at 128).
# If this checkout has the `triton-fused` Vim variant, Vim-Ti with it at 1248 is added last.
set -u
export PYTHONUNBUFFERED=1 PYTHONPATH=.
OUT=${OUT:-/tmp/vimbench-out}
P=/tmp/vimbench-profile
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv | tee "$OUT/env.txt"
python3 -m vimbench env >>"$OUT/env.txt" 2>&1
extra=()
if python3 -c "from vimbench.models import get_model_spec as g; assert 'triton-fused' in g('vim_tiny').variants" 2>/dev/null; then
  extra=(--target vim_tiny:triton-fused:1248:128)
fi
timeout "${PROFILE_TIMEOUT_S:-370}" python3 -m vimbench profile --device cuda --out "$P" --precision amp-fp16 \
  --target vim_tiny:triton:1248:128 --target deit_tiny:sdpa:1248:128 --target deit_tiny:eager:1248:32 \
  --target vim_tiny:triton:224:128 --target deit_tiny:sdpa:224:128 --target deit_tiny:eager:224:128 \
  "${extra[@]}" 2>&1 | tee "$OUT/profile.log"
tar czf "$OUT/report.tgz" -C "$P" --exclude='trace-*' .
(cd "$P" && tar czf "$OUT/traces.tgz" trace-*.json.gz)
timeout "${TEST_TIMEOUT_S:-70}" python3 -m pytest -q -p no:cacheprovider tests/profile/test_gpu.py 2>&1 | tail -15 | tee "$OUT/gpu_test.log"
