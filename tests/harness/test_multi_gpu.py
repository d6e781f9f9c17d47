"""`vimbench run --gpus`: cells spread over (fake) GPUs, each once, resumable across launchers,
a SIGKILLed worker's cell run again.  VIMBENCH_FAKE_GPUS=2 stands in two GPUs for CPU cells."""

import os
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from vimbench.cli import main as cli_main
from vimbench.gpus import Gpu, select_gpus
from vimbench.results import read_rows
from vimbench.suite import SuiteError

FAKE_PLUGIN = "tests.harness.fake_models"

# 5 cells: two ok, an OOM cell and its one probe, and one that names the GPU it was pinned to.
SUITE = f"""
plugins = ["{FAKE_PLUGIN}"]
device = "cpu"
isolation = "inline"
precisions = ["fp32"]
resolutions = [32]
batches = [2]
estimate_oom_batches = [4]
[timing]
warmup_min_iters = 1
warmup_min_s = 0.0
iters = 2
[[models]]
name = "fake_ok"
variants = ["v1", "v2"]
[[models]]
name = "fake_oom"
batches = [16]
[[models]]
name = "fake_pinned"
"""
CELLS = 5


@pytest.fixture
def two_fake_gpus(monkeypatch):
    monkeypatch.setenv("VIMBENCH_FAKE_GPUS", "2")


def _run(write_suite, runs: Path, *extra: str) -> tuple[int, Path]:
    code = cli_main(["run", "--suite", str(write_suite(SUITE)), "--runs-dir", str(runs), *extra])
    (run_dir,) = [d for d in runs.iterdir() if d.is_dir()]
    return code, run_dir


def _rows(run_dir: Path):
    return read_rows(run_dir / "results.jsonl").rows


def _assert_every_cell_once(run_dir: Path) -> None:
    counts = Counter(r.cell_id for r in _rows(run_dir))
    assert len(counts) == CELLS and set(counts.values()) == {1}, counts


def test_gpus_flag_errors_name_flag_values_and_visible_gpus():
    visible = [Gpu(0, "fake GPU 0"), Gpu(1, "fake GPU 1")]
    assert select_gpus("all", visible) == visible
    assert select_gpus("1", visible) == [visible[1]]
    for bad in ("2", "0,x", "0,0", "-1", ""):
        with pytest.raises(SuiteError) as info:
            select_gpus(bad, visible)
        assert "--gpus" in str(info.value) and "'all'" in str(info.value) and "1 (fake GPU 1)" in str(info.value)
    with pytest.raises(SuiteError, match="no GPU is visible"):
        select_gpus("all", [])


def test_every_cell_once_over_two_fake_gpus_rows_record_the_gpu(two_fake_gpus, write_suite, tmp_path):
    code, run_dir = _run(write_suite, tmp_path / "runs", "--gpus", "all")
    assert code == 1  # fake_pinned is an error row by design
    _assert_every_cell_once(run_dir)
    rows = _rows(run_dir)
    assert {r.gpu_index for r in rows} == {0, 1}  # two idle GPUs take the first two cells at once
    assert all(r.gpu_name == f"fake GPU {r.gpu_index}" for r in rows)
    (pinned,) = [r for r in rows if r.model == "fake_pinned"]
    assert f"CUDA_VISIBLE_DEVICES={pinned.gpu_index}" in pinned.error
    statuses = Counter((r.purpose, r.status) for r in rows)
    assert statuses[("measure", "oom")] == 1 and statuses[("oom_estimate", "ok")] == 1


def test_inline_with_gpus_is_an_error(two_fake_gpus, write_suite, tmp_path):
    assert cli_main(["run", "--suite", str(write_suite(SUITE)), "--runs-dir", str(tmp_path),
                     "--gpus", "all", "--inline"]) == 2


def _interrupt_after(run_dir: Path, kept: int) -> None:
    """What a run killed mid-way leaves: its first rows and a torn line."""
    lines = (run_dir / "results.jsonl").read_text().splitlines(keepends=True)
    (run_dir / "results.jsonl").write_text("".join(lines[:kept]) + lines[kept][: len(lines[kept]) // 2])


@pytest.mark.parametrize("first, then", [((), ("--gpus", "all")), (("--gpus", "0,1"), ())],
                         ids=["sequential-then-gpus", "gpus-then-sequential"])
def test_resume_across_launchers(two_fake_gpus, write_suite, tmp_path, first, then):
    _, run_dir = _run(write_suite, tmp_path / "runs", *first)
    _interrupt_after(run_dir, kept=2)
    assert cli_main(["run", "--resume", str(run_dir), *then]) == 1
    _assert_every_cell_once(run_dir)
    resumed = _rows(run_dir)[2:]
    assert all((r.gpu_index is not None) == bool(then) for r in resumed)


HANG_SUITE = f"""
plugins = ["{FAKE_PLUGIN}"]
device = "cpu"
precisions = ["fp32"]
resolutions = [32]
batches = [2]
[timing]
warmup_min_iters = 1
warmup_min_s = 0.0
iters = 2
[[models]]
name = "fake_hang"
[[models]]
name = "fake_ok"
variants = ["v1", "v2"]
"""


def sigkill_the_hanging_worker(pidfile: Path) -> tuple[threading.Thread, list[int]]:
    """A thread that SIGKILLs the process fake_hang's pid file names, once it appears."""
    killed: list[int] = []

    def kill():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if pidfile.is_file() and pidfile.read_text():
                pid = int(pidfile.read_text())
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    return killer, killed


def assert_hang_suite_ran_each_cell_once_after_the_kill(runs: Path, code: int, killer, killed) -> None:
    killer.join()
    assert killed, "the hanging worker never started"
    assert code == 0
    (run_dir,) = list(runs.iterdir())
    rows = _rows(run_dir)
    assert sorted(r.cell_id for r in rows) == sorted({r.cell_id for r in rows}) and len(rows) == 3
    assert all(r.status == "ok" for r in rows)


def test_sigkilled_worker_cell_runs_again(two_fake_gpus, write_suite, tmp_path, monkeypatch):
    pidfile = tmp_path / "hang.pid"
    monkeypatch.setenv("VIMBENCH_TEST_PIDFILE", str(pidfile))
    killer, killed = sigkill_the_hanging_worker(pidfile)
    runs = tmp_path / "runs"
    code = cli_main(["run", "--suite", str(write_suite(HANG_SUITE)), "--runs-dir", str(runs), "--gpus", "all"])
    assert_hang_suite_ran_each_cell_once_after_the_kill(runs, code, killer, killed)
