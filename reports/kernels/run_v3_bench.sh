#!/bin/bash
# GPU run 2 of the v3 scan kernels: GPU correctness subset, the bidirectional plan sweep,
# then the full kernel benchmark table with the default plans.  Writes under $OUT.
export TRITON_CACHE_DIR=/tmp/triton-cache PYTHONPATH=.
nvidia-smi --query-gpu=name,clocks.max.sm --format=csv > $OUT/gpu.txt
timeout 200 python -m pytest -q -x tests/kernels/test_selective_scan.py tests/models/test_patch_embed.py \
   -k "bidirectional_matches_reference or all_features or flip or patch" > $OUT/gpu_pytest.log 2>&1
timeout 200 python benchmarks/scan_plan_sweep.py --shapes vim_tiny-1248-b128-bf16-bidir \
   --json $OUT/v3_sweep_bidir.json > $OUT/v3_sweep_bidir.log 2>&1
timeout 330 python -m vimbench.kernels.bench --json $OUT/scan_bench.json --markdown $OUT/scan_bench.md \
   > $OUT/scan_bench.log 2>&1
tail -2 $OUT/gpu_pytest.log; grep -o '"plan": "[^"]*"\|"ms": [0-9.]*' $OUT/v3_sweep_bidir.log | paste - - ; grep "^|" $OUT/scan_bench.log | head -45
