"""Compare a `vimbench run` against hand_timing.py output: images/s and peak allocated within 5%.

    python3 benchmarks/check_against_hand.py RUN_DIR/results.jsonl hand_timing.jsonl [REPEAT_RUN/results.jsonl]

Prints a markdown table; with a repeat run, also the run-to-run CV of each repeated cell.
"""
import json
import statistics
import sys
from collections import defaultdict


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def main(results_path, hand_path, repeat_path=None):
    rows = {(r["variant"], r["resolution"]): r for r in load(results_path)
            if r["purpose"] == "measure" and r["model"] == "deit_tiny" and r["repeat"] == 0}
    print("| attention | res | harness img/s | hand img/s | ratio | harness peak alloc GiB | hand GiB | ratio | within 5% |")
    print("|---|---|---|---|---|---|---|---|---|")
    worst = 0.0
    for hand in load(hand_path):
        row = rows.get((hand["attention"], hand["resolution"]))
        if row is None:
            continue
        if "oom" in hand or row["status"] != "ok":
            print(f"| {hand['attention']} | {hand['resolution']} | {row['status']} | "
                  f"{'oom' if 'oom' in hand else 'ok'} | | | | | both oom: {'oom' in hand and row['status'] == 'oom'} |")
            continue
        speed = row["images_per_s"] / hand["images_per_s"]
        mem = row["mem_max_allocated_bytes"] / hand["max_allocated_bytes"]
        worst = max(worst, abs(speed - 1), abs(mem - 1))
        print(f"| {hand['attention']} | {hand['resolution']} | {row['images_per_s']:.1f} | {hand['images_per_s']:.1f} | "
              f"{speed:.3f} | {row['mem_max_allocated_bytes'] / 2**30:.2f} | {hand['max_allocated_bytes'] / 2**30:.2f} | "
              f"{mem:.3f} | {abs(speed - 1) <= 0.05 and abs(mem - 1) <= 0.05} |")
    print(f"\nlargest deviation: {worst:.1%}")
    if repeat_path:
        groups = defaultdict(list)
        for r in load(repeat_path):
            if r["status"] == "ok" and r["purpose"] == "measure":
                groups[(r["model"], r["variant"], r["resolution"], r["batch"], r["precision"])].append(r["images_per_s"])
        print("\n| repeated cell | runs | img/s each | run-to-run CV |")
        print("|---|---|---|---|")
        for key, values in groups.items():
            cv = statistics.stdev(values) / statistics.mean(values) if len(values) > 1 else 0.0
            print(f"| {' '.join(map(str, key))} | {len(values)} | {', '.join(f'{v:.1f}' for v in values)} | {cv:.2%} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
