"""Per-benchmark verdicts: ratio of medians, a noise test, and what the gate makes of them.

A benchmark is a REGRESSION only when both hold:
  - the candidate's median is slower than the baseline's by more than the threshold
    (ratio = candidate median / baseline median > 1 + threshold), and
  - the slowdown is outside the noise: one-sided Mann-Whitney p < alpha on the raw
    samples, or, when a file kept only summary statistics, the candidate's first
    quartile lies above the baseline's third (non-overlapping interquartile ranges).
A slowdown past the threshold that the noise test cannot confirm is reported as
"slower (noise)" and does not fail the gate; improvements are judged the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from vimbench.compare.sources import Benchmark, ResultSet
from vimbench.compare.stats import MIN_SAMPLES, mann_whitney

REGRESSION = "REGRESSION"
SLOWER_NOISE = "slower (noise)"
WITHIN = "ok"
FASTER = "faster"
FASTER_NOISE = "faster (noise)"
MISSING = "missing in candidate"
NEW = "new in candidate"

TEST_MANN_WHITNEY = "mann-whitney"
TEST_IQR = "iqr-overlap"
TEST_NONE = "none"


@dataclass(frozen=True)
class Comparison:
    key: str
    baseline: Benchmark | None
    candidate: Benchmark | None
    ratio: float | None  # candidate median / baseline median (> 1 is slower)
    test: str
    p_slower: float | None  # Mann-Whitney one-sided p (None for the IQR fallback)
    significant_slower: bool
    significant_faster: bool
    verdict: str

    @property
    def fails(self) -> bool:
        return self.verdict == REGRESSION


def compare_benchmarks(
    baseline: Benchmark, candidate: Benchmark, threshold: float, alpha: float
) -> Comparison:
    ratio = candidate.median_ms / baseline.median_ms
    test, p_slower, slower, faster = _noise_test(baseline, candidate, alpha)
    if ratio > 1 + threshold:
        verdict = REGRESSION if slower else SLOWER_NOISE
    elif ratio < 1 - threshold:
        verdict = FASTER if faster else FASTER_NOISE
    else:
        verdict = WITHIN
    return Comparison(baseline.key, baseline, candidate, ratio, test, p_slower, slower, faster, verdict)


def _noise_test(
    baseline: Benchmark, candidate: Benchmark, alpha: float
) -> tuple[str, float | None, bool, bool]:
    if len(baseline.samples_ms) >= MIN_SAMPLES and len(candidate.samples_ms) >= MIN_SAMPLES:
        result = mann_whitney(baseline.samples_ms, candidate.samples_ms)
        return TEST_MANN_WHITNEY, result.p_greater, result.p_greater < alpha, result.p_less < alpha
    quartiles = (baseline.q1_ms, baseline.q3_ms, candidate.q1_ms, candidate.q3_ms)
    if all(q is not None for q in quartiles):
        b_q1, b_q3, c_q1, c_q3 = quartiles
        return TEST_IQR, None, c_q1 > b_q3, c_q3 < b_q1
    return TEST_NONE, None, False, False


def compare_sets(
    baseline: ResultSet, candidate: ResultSet, threshold: float, alpha: float
) -> list[Comparison]:
    """One Comparison per benchmark key in either set, baseline order first."""
    out = []
    for key, base in baseline.benchmarks.items():
        cand = candidate.benchmarks.get(key)
        if cand is None:
            out.append(Comparison(key, base, None, None, TEST_NONE, None, False, False, MISSING))
        else:
            out.append(compare_benchmarks(base, cand, threshold, alpha))
    for key, cand in candidate.benchmarks.items():
        if key not in baseline.benchmarks:
            out.append(Comparison(key, None, cand, None, TEST_NONE, None, False, False, NEW))
    return out


@dataclass(frozen=True)
class CardMismatch:
    key: str
    baseline_card: str
    candidate_card: str


def card_mismatches(baseline: ResultSet, candidate: ResultSet) -> list[CardMismatch]:
    """Benchmarks present on both sides whose known GPU names differ."""
    out = []
    for key, base in baseline.benchmarks.items():
        cand = candidate.benchmarks.get(key)
        if cand and base.card and cand.card and base.card != cand.card:
            out.append(CardMismatch(key, base.card, cand.card))
    return out


def unknown_cards(baseline: ResultSet, candidate: ResultSet) -> list[str]:
    """Common benchmarks for which either side does not say which GPU ran it."""
    return [
        key
        for key, base in baseline.benchmarks.items()
        if key in candidate.benchmarks and not (base.card and candidate.benchmarks[key].card)
    ]
