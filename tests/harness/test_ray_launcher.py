"""`--launcher ray`: a local Ray instance declaring 2 GPUs runs CPU cells as num_gpus=1 tasks,
each cell once, resumes a run another launcher began, and runs a SIGKILLed worker's cell again.
Skipped without `vimbench[ray]`, except in CI (CI=true), which installs it: there a missing
Ray fails the import instead of hiding these tests."""

import os

import pytest

from tests.harness.conftest import REPO_ROOT
from tests.harness.test_multi_gpu import (
    CELLS,
    HANG_SUITE,
    SUITE,
    _assert_every_cell_once,
    _interrupt_after,
    _rows,
    assert_hang_suite_ran_each_cell_once_after_the_kill,
    sigkill_the_hanging_worker,
)
from vimbench.cli import main as cli_main

if os.environ.get("CI", "").lower() in ("", "0", "false"):
    pytest.importorskip("ray")
else:
    import ray  # noqa: F401  (CI installs vimbench[ray]: fail here rather than skip)


@pytest.fixture
def ray_env(monkeypatch):
    monkeypatch.setenv("VIMBENCH_FAKE_GPUS", "2")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    # Ray workers are fresh interpreters: they find vimbench and the fake models by PYTHONPATH.
    monkeypatch.setenv("PYTHONPATH", f"{REPO_ROOT}:{os.environ.get('PYTHONPATH', '')}")


def test_ray_runs_every_cell_once_and_resumes_a_sequential_run(ray_env, write_suite, tmp_path):
    runs = tmp_path / "runs"
    cli_main(["run", "--suite", str(write_suite(SUITE)), "--runs-dir", str(runs)])
    (run_dir,) = list(runs.iterdir())
    _interrupt_after(run_dir, kept=1)
    assert cli_main(["run", "--resume", str(run_dir), "--launcher", "ray"]) == 1  # fake_pinned errs
    _assert_every_cell_once(run_dir)
    resumed = _rows(run_dir)[1:]
    assert len(resumed) == CELLS - 1 and all(r.gpu_name == f"fake GPU {r.gpu_index}" for r in resumed)
    (pinned,) = [r for r in resumed if r.model == "fake_pinned"]
    assert f"CUDA_VISIBLE_DEVICES={pinned.gpu_index}" in pinned.error


def test_ray_flag_conflicts_are_errors(ray_env, write_suite, tmp_path):
    suite = str(write_suite(SUITE))
    assert cli_main(["run", "--suite", suite, "--runs-dir", str(tmp_path), "--launcher", "ray", "--gpus", "0"]) == 2
    assert cli_main(["run", "--suite", suite, "--runs-dir", str(tmp_path), "--address", "x:1"]) == 2


def test_ray_sigkilled_worker_cell_runs_again(ray_env, write_suite, tmp_path, monkeypatch):
    pidfile = tmp_path / "hang.pid"
    monkeypatch.setenv("VIMBENCH_TEST_PIDFILE", str(pidfile))
    killer, killed = sigkill_the_hanging_worker(pidfile)
    runs = tmp_path / "runs"
    code = cli_main(["run", "--suite", str(write_suite(HANG_SUITE)), "--runs-dir", str(runs), "--launcher", "ray"])
    assert_hang_suite_ran_each_cell_once_after_the_kill(runs, code, killer, killed)
