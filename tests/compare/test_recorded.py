"""The gate on recorded H100 samples (tests/compare/data, two sessions of a DeiT sweep)."""

import json
import random
from pathlib import Path

import torch

from vimbench.cli import main
from vimbench.compare.sources import load

DATA = Path(__file__).parent / "data"
SWEEP, REPEAT = DATA / "h100_deit_sweep.jsonl", DATA / "h100_deit_repeat.jsonl"


def rewrite(path: Path, out: Path, change) -> Path:
    """Copy a results.jsonl, passing each row's samples through change(cell_id, samples)."""
    lines = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        if row.get("samples_ms"):
            row["samples_ms"] = change(row["cell_id"], row["samples_ms"])
        lines.append(json.dumps(row))
    out.write_text("\n".join(lines) + "\n")
    return out


def test_two_sessions_of_the_same_cell_pass(capsys):
    assert main(["compare", str(SWEEP), str(REPEAT)]) == 0
    out = capsys.readouterr().out
    assert "deit_tiny|sdpa|r1024|b128|amp-fp16|eager" in out and "NVIDIA H100 80GB HBM3" in out


def test_resampled_recording_passes_and_a_ten_percent_slowdown_fails(tmp_path, capsys):
    rng = random.Random(int(torch.randint(0, 2**31, ()).item()))  # seeded per test by conftest
    resampled = rewrite(SWEEP, tmp_path / "resampled.jsonl", lambda _, s: [rng.choice(s) for _ in s])
    assert main(["compare", str(SWEEP), str(resampled)]) == 0
    cells = sorted(load(SWEEP).benchmarks)
    slowed_cell = rng.choice(cells)
    slowed = rewrite(
        SWEEP, tmp_path / "slowed.jsonl", lambda cell, s: [x * 1.10 for x in s] if cell == slowed_cell else s
    )
    capsys.readouterr()
    assert main(["compare", str(SWEEP), str(slowed)]) == 1
    out = capsys.readouterr().out
    assert f"FAIL: 1 regression(s): {slowed_cell}" in out


def test_recorded_card_mismatch_refused(tmp_path, capsys):
    other = tmp_path / "a100.jsonl"
    other.write_text(SWEEP.read_text().replace("NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB"))
    assert main(["compare", str(SWEEP), str(other)]) == 2
    assert "refusing to compare timings from different GPUs" in capsys.readouterr().err


GATE = Path(__file__).resolve().parents[2] / "reports" / "baselines" / "nvidia-h100-80gb-hbm3"


def test_h100_gate_demo_recordings(capsys):
    """The committed H100 session: BLOCK_D/4 fails everywhere, A/B separates slowed from unchanged."""
    demo = GATE / "gate_demo"
    assert main(["compare", str(GATE / "bench.json"), str(demo / "slow.json")]) == 1
    assert "summary: 5 REGRESSION" in capsys.readouterr().out
    # the unchanged rerun, a separate pytest run minutes later: within 10%, one benchmark drifted +5.2%
    assert main(["compare", str(GATE / "bench.json"), str(demo / "rerun.json"), "--threshold", "10%"]) == 0
    assert main(["compare", str(demo / "ab_slow" / "baseline.json"), str(demo / "ab_slow" / "candidate.json")]) == 1
    assert main(["compare", str(demo / "ab_same" / "baseline.json"), str(demo / "ab_same" / "candidate.json")]) == 0
