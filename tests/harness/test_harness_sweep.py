"""`vimbench run`: the run directory, OOM probes, exit codes, resume after a kill or a torn line."""

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from vimbench.cli import main as cli_main
from vimbench.results import read_rows

FAKE_PLUGIN = "tests.harness.fake_models"

MIXED = f"""
plugins = ["{FAKE_PLUGIN}"]
device = "cpu"
isolation = "inline"
precisions = ["fp32"]
resolutions = [32]
batches = [2]
estimate_oom_batches = [8, 4, 2, 64]
[timing]
warmup_min_iters = 1
warmup_min_s = 0.0
iters = 3
[[models]]
name = "fake_ok"
variants = ["v1", "v2"]
[[models]]
name = "fake_oom"
batches = [16]
[[models]]
name = "fake_error"
"""

SLOW = f"""
plugins = ["{FAKE_PLUGIN}"]
device = "cpu"
isolation = "inline"
precisions = ["fp32"]
resolutions = [16, 32, 48]
batches = [1]
[timing]
warmup_min_iters = 1
warmup_min_s = 0.0
iters = 2
[[models]]
name = "fake_slow"
variants = ["v1", "v2"]
"""


def _only_run_dir(runs: Path) -> Path:
    dirs = [d for d in runs.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def test_sweep_writes_run_dir_rows_probes_and_summary(write_suite, tmp_path, capsys):
    runs = tmp_path / "runs"
    code = cli_main(["run", "--suite", str(write_suite(MIXED, name="mixed")), "--runs-dir", str(runs)])
    assert code == 1  # an error row makes the sweep fail; OOM alone would not
    run_dir = _only_run_dir(runs)
    assert run_dir.name.endswith("-mixed")
    assert {p.name for p in run_dir.iterdir()} >= {"results.jsonl", "suite.toml", "env.json", "run.json"}
    assert (run_dir / "suite.toml").read_text() == MIXED
    env = json.loads((run_dir / "env.json").read_text())
    assert env["versions"]["torch"] and "hostname" in env

    rows = read_rows(run_dir / "results.jsonl").rows
    by_id = {r.cell_id: r for r in rows}
    assert len(by_id) == len(rows)
    assert by_id["fake_ok|v1|r32|b2|fp32|eager"].status == "ok"
    assert by_id["fake_ok|v2|r32|b2|fp32|eager"].status == "ok"
    assert by_id["fake_error|v1|r32|b2|fp32|eager"].status == "error"
    oom = by_id["fake_oom|v1|r32|b16|fp32|eager"]
    assert oom.status == "oom" and oom.purpose == "measure" and oom.batch == 16
    probes = {r.batch: r for r in rows if r.purpose == "oom_estimate"}
    assert sorted(probes) == [2, 4, 8]  # 64 is not smaller than 16: no probe
    assert probes[2].status == probes[4].status == "ok" and probes[8].status == "oom"  # fake OOMs above batch 4
    assert not any(r.purpose == "oom_estimate" for r in rows if r.batch == 16)

    out = capsys.readouterr()
    assert "fake_oom" in out.out and "oom_estimate" in out.out and "img/s" in out.out
    assert "ETA" in out.err and "error in fake_error" in out.out


def _results_count(run_dir_parent: Path) -> int:
    for results in run_dir_parent.glob("*/results.jsonl"):
        return len(read_rows(results).rows)
    return 0


@pytest.mark.slow
def test_resume_after_killing_a_real_run(write_suite, tmp_path, subprocess_env):
    runs = tmp_path / "runs"
    suite = write_suite(SLOW, name="slow")
    cmd = [sys.executable, "-m", "vimbench", "run", "--suite", str(suite), "--runs-dir", str(runs)]
    proc = subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while _results_count(runs) < 2:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the run produced no rows in time"
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the process group this test started
        proc.communicate()
    run_dir = _only_run_dir(runs)
    before = read_rows(run_dir / "results.jsonl").rows
    assert 2 <= len(before) < 6, "kill landed after the sweep finished; slow the fake model down"

    resumed = subprocess.run([sys.executable, "-m", "vimbench", "run", "--resume", str(run_dir)], check=False,
                             env=subprocess_env, capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr
    after = read_rows(run_dir / "results.jsonl")
    counts = Counter(r.cell_id for r in after.rows)
    assert len(counts) == 6 and set(counts.values()) == {1}, counts  # every cell exactly once
    assert after.rows[: len(before)] == before  # finished cells were not redone
    assert f"+{len(before)} done before" in resumed.stderr


def test_resume_reruns_a_torn_last_line(write_suite, tmp_path, capsys):
    runs = tmp_path / "runs"
    text = SLOW.replace('variants = ["v1", "v2"]', 'variants = ["v1"]').replace("fake_slow", "fake_ok")
    assert cli_main(["run", "--suite", str(write_suite(text)), "--runs-dir", str(runs)]) == 0
    run_dir = _only_run_dir(runs)
    results = run_dir / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    assert len(lines) == 3
    torn_id = json.loads(lines[-1])["cell_id"]
    kept = read_rows(results).rows[:2]
    results.write_text("".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # killed mid-write
    assert read_rows(results).torn_lines == [3]
    capsys.readouterr()

    assert cli_main(["run", "--resume", str(run_dir)]) == 0
    err = capsys.readouterr().err
    assert "torn" in err and "re-run" in err
    read = read_rows(results)
    assert read.torn_lines == []  # the torn line was moved aside, not left to trip readers
    assert (run_dir / "results.torn.jsonl").read_text().startswith(lines[-1][:20])
    assert [r.cell_id for r in read.rows] == [r.cell_id for r in kept] + [torn_id]
    assert read.rows[:2] == kept


def test_resume_refuses_a_new_selection_and_a_non_run_dir(tmp_path, capsys):
    assert cli_main(["run", "--resume", str(tmp_path)]) == 2
    assert "not a vimbench run directory" in capsys.readouterr().err
    assert cli_main(["run", "--resume", str(tmp_path), "--suite", "smoke"]) == 2


def test_resume_runs_missing_oom_probes_once(write_suite, tmp_path, capsys):
    runs = tmp_path / "runs"
    text = MIXED.replace('[[models]]\nname = "fake_error"\n', "")
    assert cli_main(["run", "--suite", str(write_suite(text)), "--runs-dir", str(runs)]) == 0
    run_dir = _only_run_dir(runs)
    results = run_dir / "results.jsonl"
    lines = results.read_text().splitlines(keepends=True)
    probe_lines = [line for line in lines if '"purpose": "oom_estimate"' in line]
    assert len(probe_lines) == 3
    results.write_text("".join(line for line in lines if line not in probe_lines[1:]))  # killed after one probe
    capsys.readouterr()
    assert cli_main(["run", "--resume", str(run_dir)]) == 0
    rows = read_rows(results).rows
    counts = Counter(r.cell_id for r in rows)
    assert set(counts.values()) == {1} and len(counts) == 2 + 1 + 3
    assert sorted(r.batch for r in rows if r.purpose == "oom_estimate") == [2, 4, 8]


@pytest.mark.slow
def test_smoke_suite_runs_end_to_end(tmp_path, capsys):
    """The built-in smoke suite, as shipped (a spawned process per cell): every row ok, the DeiT
    rows say which attention ran, and its report compares the two models (a new user's first
    report): ratios at both shared sizes, a verdict table with values, lines in the plots."""
    assert cli_main(["run", "--suite", "smoke", "--runs-dir", str(tmp_path)]) == 0
    run_dir = _only_run_dir(tmp_path)
    rows = read_rows(run_dir / "results.jsonl").rows
    assert [(r.model, r.variant, r.status) for r in rows] == [
        (m, v, "ok") for m, v in (("deit_tiny", "eager"), ("deit_tiny", "sdpa"), ("vim_tiny", "torch")) for _ in "ab"
    ], [r.error for r in rows]
    backends = {r.variant: r.attention_backend for r in rows}
    assert backends["eager"] == "explicit softmax"
    assert backends["sdpa"] in ("flash", "cudnn", "efficient", "math")  # what one profiled call showed
    assert backends["torch"] is None
    shared = {r.resolution for r in rows if r.model == "vim_tiny"}
    assert len(shared) == 2 and shared == {r.resolution for r in rows if r.model == "deit_tiny"}  # lines, not dots

    capsys.readouterr()
    assert cli_main(["report", str(run_dir)]) == 0
    console = capsys.readouterr().out
    assert f"{max(shared)} px  vimbench Vim (torch, eager) vs DeiT-Ti eager (eager, eager): speed " in console
    ratios = pd.read_csv(run_dir / "report" / "ratios.csv")
    assert set(ratios["resolution"]) == shared and ratios["speed_ratio"].notna().all()
    verdict = pd.read_csv(run_dir / "report" / "verdict_table.csv")
    assert verdict[verdict["vim"] == "vimbench Vim"]["speed_ratio"].notna().all()
    text = (run_dir / "report" / "report.md").read_text()
    assert "ratios_vs_resolution_b2_fp32_eager.png" in text and "**Not the claim's resolution.**" in text
