#!/usr/bin/env bash
# The GPU session that made a card's baseline (reports/baselines/<card>/) and showed the gate at work:
#   1. baseline: the scan benchmarks (tests/kernels/test_bench_scan.py; its Vim-Ti bf16
#      shapes unless FULL_BASELINE=1) and one full Vim block (tests/benchmarks),
#      pytest-benchmark JSON with every sample;
#   2. a deliberately slowed variant (slow_variant.py: the scan's BLOCK_D / 4) and
#   3. an unchanged rerun, both on the Vim-Ti bf16 subset, each gated against 1.;
#   4. A/B in one session, interleaved: this tree vs the slowed copy, and vs an unchanged copy.
# Usage (repository root): OUT=/some/dir bash benchmarks/gate_demo.sh [steps, default "1 2 3 4"]
set -uo pipefail
export PYTHONPATH="$PWD:$PWD/kernels" PYTHONUNBUFFERED=1
OUT="${OUT:?set OUT to an output folder}"
STEPS="${1:-1 2 3 4}"
WORK=/tmp/gate_demo
mkdir -p "$WORK"
PYTEST=(python -m pytest -q -p no:cacheprovider --benchmark-only)
SCAN=tests/kernels/test_bench_scan.py
BLOCK=tests/benchmarks
SUBSET=(-k "${K:-vim_tiny and bf16 or test_vim_block}")  # K: a pytest -k expression for a shorter session
ONLY=(--only "*vim_tiny-*-bf16-*" --only "*test_vim_block*")
step() { echo; echo "=== $* ($(date -u +%T))"; }
merge() {  # merge pytest-benchmark JSON files: merge OUT IN...
  python - "$@" <<'PY'
import json, sys
out, *parts = sys.argv[1:]
docs = [json.load(open(p)) for p in parts]
merged = dict(docs[0], benchmarks=[b for d in docs for b in d["benchmarks"]])
json.dump(merged, open(out, "w"), indent=1)
print(f"merged {len(merged['benchmarks'])} benchmarks into {out}")
PY
}
{
  step environment
  nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu,power.draw --format=csv
  python -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
  python benchmarks/slow_variant.py /tmp/slow --block-d-factor 0.25
  python benchmarks/slow_variant.py /tmp/same --copy-only
  if [[ " $STEPS " == *" 1 "* ]]; then
    step "1. baseline"
    BASE_K=(); [[ "${FULL_BASELINE:-0}" == 1 ]] || BASE_K=(-k "${K:-vim_tiny and bf16}")
    timeout 150 "${PYTEST[@]}" $SCAN "${BASE_K[@]}" --benchmark-json="$WORK/base_scan.json"
    cp "$WORK/base_scan.json" "$OUT/base.json"  # kept even if the block run below is cut short
    timeout 70 "${PYTEST[@]}" $BLOCK ${K:+-k "$K"} --benchmark-json="$WORK/base_block.json"
    merge "$OUT/base.json" "$WORK"/base_scan.json "$WORK"/base_block.json
  fi
  if [[ " $STEPS " == *" 2 "* ]]; then
    step "2. slowed variant"
    (cd /tmp/slow && PYTHONPATH=/tmp/slow:/tmp/slow/kernels timeout 90 "${PYTEST[@]}" $SCAN $BLOCK "${SUBSET[@]}" \
        --benchmark-json="$OUT/slow.json")
  fi
  if [[ " $STEPS " == *" 3 "* ]]; then
    step "3. unchanged rerun"
    timeout 50 "${PYTEST[@]}" $SCAN $BLOCK "${SUBSET[@]}" --benchmark-json="$OUT/rerun.json"
  fi
  if [[ -f "$OUT/base.json" ]]; then
    step "gate: baseline vs slowed"
    python -m vimbench.cli compare "$OUT/base.json" "$OUT/slow.json" --threshold 5% "${ONLY[@]}"
    echo "exit code $?"
    step "gate: baseline vs rerun"
    python -m vimbench.cli compare "$OUT/base.json" "$OUT/rerun.json" --threshold 5% "${ONLY[@]}"
    echo "exit code $?"
  fi
  if [[ " $STEPS " == *" 4 "* ]]; then
    CASES=${AB_CASES:-vim_tiny-1248-b128-bf16-bidir,vim_tiny-1248-b1-bf16-bidir}
    step "4a. A/B this tree vs slowed"
    timeout 40 python -m vimbench.cli compare --ab . /tmp/slow --cases "$CASES" --rounds ${AB_ROUNDS:-6} --iters 5 \
        --save-dir "$OUT/ab_slow"
    echo "exit code $?"
    step "4b. A/B this tree vs an unchanged copy"
    timeout 40 python -m vimbench.cli compare --ab . /tmp/same --cases "$CASES" --rounds ${AB_ROUNDS:-6} --iters 5 \
        --save-dir "$OUT/ab_same"
    echo "exit code $?"
  fi
  step done
} 2>&1 | tee "$OUT/gate_demo.log"
