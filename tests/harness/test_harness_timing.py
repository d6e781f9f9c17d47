"""The runner's timing statistics and warm-up rule."""

import math
import time

import numpy as np
import pytest
import torch

from vimbench.timing import HIGH_CV, TimingSettings, measure, percentile, summarize


@pytest.mark.parametrize("n", [1, 2, 7, 30, 101])
def test_summarize_matches_numpy(n):
    samples = (torch.rand(n, dtype=torch.float64) * 50 + 1).tolist()
    batch = int(torch.randint(1, 256, ()).item())
    stats = summarize(samples, batch)
    arr = np.array(samples)
    assert stats.n == n
    assert stats.median_ms == pytest.approx(np.median(arr))
    assert stats.p10_ms == pytest.approx(np.percentile(arr, 10))
    assert stats.p90_ms == pytest.approx(np.percentile(arr, 90))
    expected_cv = arr.std(ddof=1) / arr.mean() if n > 1 else 0.0
    assert stats.cv == pytest.approx(expected_cv)
    assert stats.images_per_s == pytest.approx(batch / (np.median(arr) / 1000))
    assert stats.high_cv == (expected_cv > HIGH_CV)


def test_percentile_interpolates_and_rejects_empty():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([5.0], 90) == 5.0
    with pytest.raises(ValueError):
        percentile([], 50)


def test_constant_samples_have_zero_cv_and_low_noise_flag():
    value = float(torch.rand(()).item() * 10 + 1)
    stats = summarize([value] * 10, 4)
    assert stats.cv == 0.0 and not stats.high_cv
    assert stats.images_per_s == pytest.approx(4000 / value)


def test_measure_honours_warmup_count_and_time_and_keeps_every_sample():
    calls = []

    def fn():
        calls.append(time.perf_counter())
        time.sleep(0.002)
        return torch.zeros(1)

    settings = TimingSettings(warmup_min_iters=3, warmup_min_s=0.05, iters=7)
    result = measure(fn, "cpu", settings)
    assert result.timer == "perf_counter"
    assert result.warmup_iters >= 3 and result.warmup_s >= 0.05  # both conditions met
    assert len(result.samples_ms) == 7
    assert len(calls) == result.warmup_iters + 7
    assert all(s >= 2.0 for s in result.samples_ms)
    assert result.first_call_ms >= 2.0


def test_measure_min_time_extends_the_timed_loop():
    settings = TimingSettings(warmup_min_iters=0, warmup_min_s=0.0, iters=2, min_time_s=0.05)
    result = measure(lambda: time.sleep(0.005), "cpu", settings)
    assert len(result.samples_ms) >= 2
    assert sum(result.samples_ms) >= 45.0
    assert result.window_s >= 0.05


def test_first_call_is_timed_apart_and_checked_before_any_timing():
    state = {"n": 0}

    def fn():
        state["n"] += 1
        time.sleep(0.03 if state["n"] == 1 else 0.001)  # a slow first call (JIT, autotune)
        return torch.tensor([math.nan]) if state["n"] == 1 else torch.zeros(1)

    seen = []
    result = measure(fn, "cpu", TimingSettings(warmup_min_iters=1, warmup_min_s=0, iters=5),
                     check_first_output=seen.append)
    assert result.first_call_ms >= 30.0
    assert max(result.samples_ms) < 30.0
    assert len(seen) == 1 and torch.isnan(seen[0]).all()

    def reject(out):
        raise ValueError("not finite")

    state["n"] = 0
    with pytest.raises(ValueError):
        measure(fn, "cpu", TimingSettings(), check_first_output=reject)
    assert state["n"] == 1  # stopped before warm-up
