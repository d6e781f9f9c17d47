#!/bin/bash
# GPU run of the v3 scan kernels (shared-memory B/C tiles, interleaved bidirectional),
# beside the v2 kernels of commit 1f7528d in the same call (.ab/old: a git worktree of
# that commit), on one card.  Writes under $OUT.
export TRITON_CACHE_DIR=/tmp/triton-cache
nvidia-smi --query-gpu=name,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv > $OUT/gpu.txt
(cd .ab/old && PYTHONPATH=. timeout 170 python -m vimbench.kernels.bench \
   --shapes vim_tiny-1248-b128-bf16-fwd vim_tiny-1248-b128-bf16-bidir --json $OUT/v2_bench.json) > $OUT/v2_bench.log 2>&1
PYTHONPATH=. timeout 150 python -m pytest -q -x tests/kernels/test_selective_scan.py \
   -k "(bidirectional_matches_reference and direct) or (all_features and direct) or flip" > $OUT/gpu_pytest.log 2>&1
PYTHONPATH=. timeout 260 python benchmarks/scan_plan_sweep.py \
   --shapes vim_tiny-1248-b128-bf16-fwd vim_tiny-1248-b128-bf16-bidir --json $OUT/v3_sweep.json > $OUT/v3_sweep.log 2>&1
tail -3 $OUT/gpu_pytest.log; cat $OUT/v2_bench.log | grep "^|"; grep -v "^{\"gpu" $OUT/v3_sweep.log | python -c "
import sys, json
for l in sys.stdin:
    try: r = json.loads(l)
    except Exception: print(l.strip()); continue
    print(r.get('shape'), r.get('plan'), 'ms', r.get('ms'), 'err', r.get('err'), r.get('error', ''))"
