#!/usr/bin/env bash
# The GPU session that made this card's baseline and showed the gate at work (one call):
#   1. baseline: the scan benchmarks (tests/kernels/test_bench_scan.py) + one Vim block
#      (tests/benchmarks), pytest-benchmark JSON with every sample;
#   2. a deliberately slowed variant (reports/baselines/slow_variant.py: BLOCK_D / 4)
#      and 3. an unchanged rerun, both on the Vim-Ti bf16 subset, each compared with 1.;
#   4. A/B, interleaved in one session: this tree vs the slowed copy, and vs an identical copy.
# Usage: OUT=/some/dir bash reports/baselines/gate_demo.sh   (run from the repository root)
set -uo pipefail
export PYTHONPATH="$PWD" PYTHONUNBUFFERED=1
OUT="${OUT:?set OUT to an output folder}"
LOG="$OUT/gate_demo.log"
BENCH=(tests/kernels/test_bench_scan.py tests/benchmarks)
SUBSET=(-k "vim_tiny and bf16 or test_vim_block")
PYTEST=(python -m pytest -q -p no:cacheprovider --benchmark-only)
step() { echo; echo "=== $* ($(date -u +%T))"; }
{
  step environment
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
  python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
  python reports/baselines/slow_variant.py /tmp/slow --block-d-factor 0.25
  python reports/baselines/slow_variant.py /tmp/same --copy-only

  step "1. baseline"
  timeout 220 "${PYTEST[@]}" "${BENCH[@]}" --benchmark-json="$OUT/base.json"
  step "2. slowed variant"
  (cd /tmp/slow && PYTHONPATH=/tmp/slow timeout 100 "${PYTEST[@]}" "${BENCH[@]}" "${SUBSET[@]}" \
      --benchmark-json="$OUT/slow.json")
  step "3. unchanged rerun"
  timeout 60 "${PYTEST[@]}" "${BENCH[@]}" "${SUBSET[@]}" --benchmark-json="$OUT/rerun.json"

  step "gate: baseline vs slowed"
  python -m vimbench.cli compare "$OUT/base.json" "$OUT/slow.json" --threshold 5%; echo "exit code $?"
  step "gate: baseline vs rerun"
  python -m vimbench.cli compare "$OUT/base.json" "$OUT/rerun.json" --threshold 5%; echo "exit code $?"

  CASES=vim_tiny-1248-b128-bf16-bidir,vim_tiny-1248-b1-bf16-bidir,vim_tiny-224-b128-bf16-fwd
  step "4a. A/B this tree vs slowed"
  timeout 60 python -m vimbench.cli compare --ab . /tmp/slow --cases "$CASES" --rounds 6 --iters 5 \
      --save-dir "$OUT/ab_slow"; echo "exit code $?"
  step "4b. A/B this tree vs an unchanged copy"
  timeout 60 python -m vimbench.cli compare --ab . /tmp/same --cases "$CASES" --rounds 6 --iters 5 \
      --save-dir "$OUT/ab_same"; echo "exit code $?"
  step done
} 2>&1 | tee "$LOG"
