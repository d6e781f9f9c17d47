"""OOM memory estimate: the least-squares line, and which probe rows it may use."""

import numpy as np
import pytest
import torch
from report_synthetic import row, write_run

from vimbench.report.estimate import NO_PROBES, estimate_oom_cells, fit_line
from vimbench.report.load import load_run


def _rng():
    return np.random.default_rng(torch.initial_seed())


def test_fit_line_matches_normal_equations():
    rng = _rng()
    x = rng.choice(np.arange(1, 200), size=7, replace=False).astype(float)
    y = rng.uniform(1e8, 1e9) + rng.uniform(1e6, 1e8) * x + rng.normal(0, 1e7, size=x.size)
    fit = fit_line(x, y)
    # Closed form: slope = cov(x, y) / var(x); intercept = mean(y) - slope * mean(x).
    slope = np.sum((x - x.mean()) * (y - y.mean())) / np.sum((x - x.mean()) ** 2)
    intercept = y.mean() - slope * x.mean()
    r2 = 1 - np.sum((y - intercept - slope * x) ** 2) / np.sum((y - y.mean()) ** 2)
    assert fit.slope == pytest.approx(slope, rel=1e-9)
    assert fit.intercept == pytest.approx(intercept, rel=1e-6, abs=1.0)
    assert fit.r2 == pytest.approx(r2, rel=1e-9)
    assert 0.0 < fit.r2 < 1.0


def test_fit_line_r2_undefined_for_constant_values():
    assert fit_line(np.array([8.0, 16.0, 32.0]), np.array([5.0, 5.0, 5.0])).r2 is None


def _oom_run(tmp_path, probes, target=128, **probe_kw):
    rows = [row("deit_tiny", "eager", 1248, target, status="oom")]
    rows += [row("deit_tiny", "eager", 1248, b, purpose="oom_estimate", mem=m, **probe_kw) for b, m in probes]
    return load_run(write_run(tmp_path / "run", rows), "run").frame


def test_exact_line_is_recovered_and_extrapolated(tmp_path):
    rng = _rng()
    a, b = float(rng.uniform(2e8, 2e9)), float(rng.uniform(1e8, 1e9))
    batches = sorted(rng.choice([4, 8, 16, 24, 32, 48, 64], size=3, replace=False).tolist())
    est = estimate_oom_cells(_oom_run(tmp_path, [(x, a + b * x) for x in batches]))
    allocated = est[est["metric"] == "allocated"].iloc[0]
    assert allocated["status"] == "estimated"
    assert allocated["estimated_bytes"] == pytest.approx(a + b * 128, rel=1e-6)
    assert allocated["slope_bytes_per_image"] == pytest.approx(b, rel=1e-6)
    assert allocated["r2"] == pytest.approx(1.0)
    assert allocated["probe_batches"] == ", ".join(map(str, batches))
    # reserved = 1.1 x allocated in the synthetic rows, NVML = reserved + 0.5 GB: their own fits.
    reserved = est[est["metric"] == "reserved"].iloc[0]
    assert reserved["estimated_bytes"] == pytest.approx(1.1 * (a + b * 128), rel=1e-6)
    nvml = est[est["metric"] == "nvml"].iloc[0]
    assert nvml["estimated_bytes"] == pytest.approx(1.1 * (a + b * 128) + 5e8, rel=1e-6)


def test_no_probe_rows_says_so(tmp_path):
    est = estimate_oom_cells(_oom_run(tmp_path, []))
    assert len(est) == 3 and set(est["status"]) == {NO_PROBES}
    assert est["estimated_bytes"].isna().all()


def test_one_probe_batch_is_not_enough(tmp_path):
    est = estimate_oom_cells(_oom_run(tmp_path, [(16, 3e9)]))
    assert est["estimated_bytes"].isna().all()
    assert all(s.startswith("not estimated (needs ok probes at 2+ batches") for s in est["status"])


def test_memory_not_growing_is_not_extrapolated(tmp_path):
    est = estimate_oom_cells(_oom_run(tmp_path, [(8, 5e9), (16, 4e9), (32, 3e9)]))
    assert est["estimated_bytes"].isna().all()
    assert all("does not grow" in s for s in est["status"])


def test_only_probes_of_the_same_cell_below_the_oom_batch_are_used(tmp_path):
    rng = _rng()
    a, b = float(rng.uniform(2e8, 2e9)), float(rng.uniform(1e8, 1e9))
    rows = [row("deit_tiny", "eager", 1248, 128, status="oom")]
    rows += [row("deit_tiny", "eager", 1248, x, purpose="oom_estimate", mem=a + b * x) for x in (8, 16)]
    # Rows that must be ignored: another resolution, precision, variant; an OOM probe; a probe at
    # the target batch; a measure row at a smaller batch.
    rows += [row("deit_tiny", "eager", 1024, 32, purpose="oom_estimate", mem=1e12),
             row("deit_tiny", "eager", 1248, 32, precision="bf16", purpose="oom_estimate", mem=1e12),
             row("deit_tiny", "sdpa", 1248, 32, purpose="oom_estimate", mem=1e12),
             row("deit_tiny", "eager", 1248, 64, purpose="oom_estimate", status="oom"),
             row("deit_tiny", "eager", 1248, 128, purpose="oom_estimate", mem=1e12),
             row("deit_tiny", "eager", 1248, 32, mem=1e12)]
    frame = load_run(write_run(tmp_path / "run", rows), "run").frame
    est = estimate_oom_cells(frame)
    assert len(est) == 3  # one OOM measure cell x three metrics
    allocated = est[est["metric"] == "allocated"].iloc[0]
    assert allocated["probe_batches"] == "8, 16"
    assert allocated["estimated_bytes"] == pytest.approx(a + b * 128, rel=1e-6)
