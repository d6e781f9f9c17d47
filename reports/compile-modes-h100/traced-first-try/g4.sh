#!/usr/bin/env bash
# session 4 call 4 (main + traced ops): Vim-Ti compiled through the traced ops against the opaque ones and eager, 224 and 1248 px
set -o pipefail
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD:$PWD/kernels
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee $OUT/gpu.txt
run() { log=$OUT/log_$2.txt; timeout -s INT $1 python3 -m vimbench run --model vim_tiny:triton-fused --batch 128 --precision amp-fp16 "${@:3}" --runs-dir $OUT/$2 > $log 2>&1; grep "^vim_tiny\|rror" $log | tail -5; echo "   ($(date -u +%T))"; }
echo "== 224 traced ($(date -u +%T))"
run 120 traced-224 --resolution 224 --exec-mode eager,compile
echo "== 224 opaque"
MAMBA_TRITON_COMPILED_OPS=opaque run 55 opaque-224 --resolution 224 --exec-mode compile
echo "== 1248 traced"
run 100 traced-1248 --resolution 1248 --exec-mode eager,compile
echo "== accuracy"
timeout 60 python3 .device-tmp/compiled_vs_eager.py 2>&1 | grep -v Warn | tail -4
echo "== 224 traced freeze"
run 45 traced-224-freeze --resolution 224 --exec-mode compile:freeze
date -u
