"""Verdicts on synthetic samples: a real slowdown fails, noise within the threshold passes."""

import pytest

from vimbench.compare.sources import Benchmark
from vimbench.compare.stats import median, quantile
from vimbench.compare.verdict import (
    FASTER,
    REGRESSION,
    SLOWER_NOISE,
    TEST_IQR,
    TEST_MANN_WHITNEY,
    TEST_NONE,
    WITHIN,
    compare_benchmarks,
)


def bench(samples, key="k", keep_samples=True):
    return Benchmark(
        key,
        tuple(samples) if keep_samples else (),
        median(samples),
        quantile(samples, 0.25),
        quantile(samples, 0.75),
        "gpu",
    )


def test_ten_percent_slowdown_is_a_regression(draw_ms):
    base, cand = bench(draw_ms(40)), bench(draw_ms(40, median_ms=1.10))
    result = compare_benchmarks(base, cand, threshold=0.05, alpha=0.01)
    assert result.verdict == REGRESSION and result.fails
    assert result.ratio == pytest.approx(1.10, abs=0.02)
    assert result.test == TEST_MANN_WHITNEY and result.p_slower < 1e-6


def test_significant_slowdown_within_threshold_passes(draw_ms):
    # 3% slower with 2% noise: real and detectable, but below a 5% threshold
    base, cand = bench(draw_ms(200)), bench(draw_ms(200, median_ms=1.03))
    result = compare_benchmarks(base, cand, threshold=0.05, alpha=0.01)
    assert result.verdict == WITHIN and not result.fails
    assert result.significant_slower


def test_same_distribution_passes(draw_ms):
    result = compare_benchmarks(bench(draw_ms(50, cv=0.04)), bench(draw_ms(50, cv=0.04)), 0.05, 0.01)
    assert result.verdict == WITHIN


def test_slow_median_inside_the_noise_does_not_fail():
    # medians 5 -> 6 (+20%) but the samples interleave: Mann-Whitney cannot tell them apart
    base = bench([1, 2, 3, 4, 5, 6, 7, 8, 9])
    cand = bench([1, 2, 3, 4, 6, 6, 7, 8, 9])
    result = compare_benchmarks(base, cand, threshold=0.05, alpha=0.01)
    assert result.ratio == pytest.approx(1.2)
    assert result.verdict == SLOWER_NOISE and not result.fails


def test_improvement_is_reported_not_failed(draw_ms):
    result = compare_benchmarks(bench(draw_ms(30)), bench(draw_ms(30, median_ms=0.8)), 0.05, 0.01)
    assert result.verdict == FASTER and not result.fails


def test_summary_stats_fall_back_to_iqr_overlap(draw_ms):
    base_samples, slow_samples = draw_ms(40), draw_ms(40, median_ms=1.2)
    base, slow = bench(base_samples, keep_samples=False), bench(slow_samples, keep_samples=False)
    result = compare_benchmarks(base, slow, 0.05, 0.01)
    assert result.test == TEST_IQR and result.verdict == REGRESSION
    noisy = bench(draw_ms(40, median_ms=1.08, cv=0.3), keep_samples=False)
    wide_base = bench(draw_ms(40, cv=0.3), keep_samples=False)
    # quartiles of two 30%-CV samples overlap at an 8% shift: whatever the medians say, no failure
    noisy_result = compare_benchmarks(wide_base, noisy, 0.05, 0.01)
    assert not noisy_result.significant_slower and not noisy_result.fails


def test_without_noise_information_nothing_fails():
    base = Benchmark("k", (), 1.0, None, None, "gpu")
    cand = Benchmark("k", (), 2.0, None, None, "gpu")
    result = compare_benchmarks(base, cand, 0.05, 0.01)
    assert result.test == TEST_NONE and result.verdict == SLOWER_NOISE
