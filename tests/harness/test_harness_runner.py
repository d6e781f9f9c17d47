"""One cell -> one row: ok, oom, error and non-finite outcomes, inline and in a spawned process."""

import pytest

from vimbench.runner import CellJob, run_cell, run_cell_isolated
from vimbench.suite import Cell
from vimbench.timing import TimingSettings

FAKE_PLUGIN = "tests.harness.fake_models"  # see conftest.py: importable here and in spawned workers

FAST = TimingSettings(warmup_min_iters=1, warmup_min_s=0.0, iters=3)


def _job(model: str, batch: int = 2, resolution: int = 32, precision: str = "fp32") -> CellJob:
    return CellJob(cell=Cell(model, "v1", resolution, batch, precision), suite="test", device="cpu",
                   timing=FAST, plugins=(FAKE_PLUGIN,), conditions={"git_commit": "abc", "hostname": "h"})


def test_ok_cell_has_timing_and_conditions():
    row = run_cell(_job("fake_ok", batch=3))
    assert row.status == "ok", row.error
    assert row.n_samples == 3 and len(row.samples_ms) == 3
    assert row.latency_ms_p10 <= row.latency_ms_median <= row.latency_ms_p90
    assert row.images_per_s == pytest.approx(3 / (row.latency_ms_median / 1000))
    assert row.timer == "perf_counter" and row.first_call_ms > 0 and row.warmup_iters >= 1
    assert row.tokens == (32 // 16) ** 2 + 1
    assert row.params == 3 * 16 * 16 * 8 + 8
    assert row.mem_weights_bytes == row.params * 4
    assert (row.precision, row.param_dtype, row.autocast_dtype, row.tf32) == ("fp32", "float32", None, False)
    assert (row.git_commit, row.hostname, row.device) == ("abc", "h", "cpu")
    assert row.cell_id == "fake_ok|v1|r32|b3|fp32|eager"


@pytest.mark.parametrize("precision,param_dtype", [("bf16", "bfloat16"), ("amp-bf16", "float32"), ("tf32", "float32")])
def test_precision_policy_is_recorded(precision, param_dtype):
    row = run_cell(_job("fake_ok", precision=precision))
    assert row.status == "ok", row.error
    assert row.param_dtype == param_dtype
    assert row.autocast_dtype == ("bfloat16" if precision == "amp-bf16" else None)
    assert row.tf32 == (precision == "tf32")
    assert row.mem_weights_bytes == row.params * (2 if precision == "bf16" else 4)


def test_oom_gives_oom_row_and_keeps_the_batch():
    row = run_cell(_job("fake_oom", batch=16))
    assert row.status == "oom"
    assert row.batch == 16
    assert "out of memory during first call" in row.error
    assert row.images_per_s is None and row.samples_ms == []


def test_small_batch_of_oom_model_runs():
    assert run_cell(_job("fake_oom", batch=4)).status == "ok"


def test_error_row_carries_the_message():
    row = run_cell(_job("fake_error"))
    assert row.status == "error"
    assert "RuntimeError: fake failure: kaboom" in row.error
    assert row.error.startswith("first call:")


def test_non_finite_output_is_an_error_not_a_number():
    row = run_cell(_job("fake_nan"))
    assert row.status == "error"
    assert "not finite: 1 NaN and 0 Inf" in row.error
    assert row.images_per_s is None and row.samples_ms == []


def test_build_failure_names_the_phase():
    row = run_cell(_job("fake_ok", resolution=40))  # not a multiple of the patch: create_model refuses
    assert row.status == "error" and row.error.startswith("build:")


@pytest.mark.slow
def test_isolated_worker_imports_plugins_and_reports_oom():
    row = run_cell_isolated(_job("fake_oom", batch=8), timeout_s=120)
    assert row.status == "oom", row.error
    assert row.cell_id == "fake_oom|v1|r32|b8|fp32|eager"


@pytest.mark.slow
def test_isolated_crash_becomes_an_error_row():
    row = run_cell_isolated(_job("fake_crash"), timeout_s=120)
    assert row.status == "error"
    assert "worker process died (exit code 7)" in row.error
    assert row.model == "fake_crash" and row.duration_s > 0


def test_isolated_timeout_kills_the_worker():
    row = run_cell_isolated(_job("fake_ok"), timeout_s=0.5)  # still importing torch when the time is up
    assert row.status == "error"
    assert "timed out after" in row.error


def test_cuda_graph_on_cpu_is_an_error_row_naming_the_mode():
    job = _job("fake_ok")
    job.cell = Cell("fake_ok", "v1", 32, 2, "fp32", exec_mode="cuda_graph")
    row = run_cell(job)
    assert row.status == "error"
    assert row.error.startswith("exec_mode setup:") and "cuda_graph" in row.error
    assert row.cell_id.endswith("|cuda_graph")
