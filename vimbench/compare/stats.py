"""The statistics of the gate: medians, quartiles and a one-sided Mann-Whitney U test.

Written out here (no scipy dependency) so the CI image stays small and the test is
readable.  Mann-Whitney compares the two sets of samples by ranks only, so a few
outliers (a context switch, a clock change) cannot fake or hide a shift the way they
can with a t-test on means.

The p-value uses the normal approximation with the tie correction and a continuity
correction.  It is accurate from roughly 8 samples per side; below `MIN_SAMPLES` the
gate does not call anything significant.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

MIN_SAMPLES = 5  # per side; fewer and the normal approximation is not worth a verdict


def quantile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (numpy's default method), q in [0, 1]."""
    if not values:
        raise ValueError("quantile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile q must be in [0, 1], got {q}")
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Sequence[float]) -> float:
    return quantile(values, 0.5)


def average_ranks(values: Sequence[float]) -> tuple[list[float], list[int]]:
    """1-based ranks with ties sharing their average rank, and the size of each tie group."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    tie_sizes = []
    start = 0
    while start < len(order):
        end = start
        while end + 1 < len(order) and values[order[end + 1]] == values[order[start]]:
            end += 1
        shared_rank = (start + end) / 2 + 1
        for position in range(start, end + 1):
            ranks[order[position]] = shared_rank
        tie_sizes.append(end - start + 1)
        start = end + 1
    return ranks, tie_sizes


@dataclass(frozen=True)
class MannWhitney:
    u_candidate: float  # U statistic of the candidate: pairs (b, c) with c > b, ties counting 1/2
    z: float
    p_greater: float  # one-sided p-value of "candidate samples tend to be larger (slower)"
    p_less: float  # one-sided p-value of "candidate samples tend to be smaller (faster)"


def mann_whitney(baseline: Sequence[float], candidate: Sequence[float]) -> MannWhitney:
    """One-sided Mann-Whitney U tests of candidate vs baseline, normal approximation.

    z uses the tie-corrected variance
        var(U) = n_b n_c / 12 * ((n + 1) - sum(t^3 - t) / (n (n - 1)))
    and a continuity correction of 1/2 towards the mean.
    """
    n_b, n_c = len(baseline), len(candidate)
    if n_b == 0 or n_c == 0:
        raise ValueError("Mann-Whitney needs at least one sample on each side")
    ranks, tie_sizes = average_ranks(list(baseline) + list(candidate))
    rank_sum_candidate = sum(ranks[n_b:])
    u_candidate = rank_sum_candidate - n_c * (n_c + 1) / 2
    n = n_b + n_c
    mean_u = n_b * n_c / 2
    tie_term = sum(t**3 - t for t in tie_sizes) / (n * (n - 1)) if n > 1 else 0.0
    variance = n_b * n_c / 12 * ((n + 1) - tie_term)
    if variance <= 0:  # every sample equal: no evidence either way
        return MannWhitney(u_candidate, 0.0, 1.0, 1.0)
    sigma = math.sqrt(variance)
    z_greater = (u_candidate - mean_u - 0.5) / sigma
    z_less = (u_candidate - mean_u + 0.5) / sigma
    return MannWhitney(
        u_candidate=u_candidate,
        z=(u_candidate - mean_u) / sigma,
        p_greater=_normal_sf(z_greater),
        p_less=_normal_sf(-z_less),
    )


def _normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z."""
    return 0.5 * math.erfc(z / math.sqrt(2))
