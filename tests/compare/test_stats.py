"""Mann-Whitney U and quantiles against brute force / exact distributions."""

import itertools
import math

import pytest
import torch

from vimbench.compare.stats import average_ranks, mann_whitney, median, quantile


def _draw(n, scale=1.0, shift=0.0, integer=False):
    values = torch.rand(n, dtype=torch.float64) * scale + shift
    if integer:
        values = values.floor()
    return values.tolist()


def test_quantiles_match_torch():
    values = _draw(37)
    for q in (0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0):
        assert quantile(values, q) == pytest.approx(
            torch.quantile(torch.tensor(values, dtype=torch.float64), q).item(), rel=1e-12
        )
    assert median([3.0, 1.0, 2.0, 10.0]) == 2.5


def test_average_ranks_share_ties():
    ranks, ties = average_ranks([5.0, 1.0, 5.0, 3.0, 5.0])
    assert ranks == [4.0, 1.0, 4.0, 2.0, 4.0]
    assert sorted(ties) == [1, 1, 3]


@pytest.mark.parametrize("integer", [False, True], ids=["continuous", "with-ties"])
def test_u_counts_pairs(integer):
    baseline, candidate = _draw(23, 5, integer=integer), _draw(17, 5, 0.5, integer=integer)
    pairs = sum((c > b) + 0.5 * (c == b) for b in baseline for c in candidate)
    assert mann_whitney(baseline, candidate).u_candidate == pytest.approx(pairs)


def _exact_p_greater(n_b, n_c, u_observed):
    """P(U >= u) under H0 with no ties, by enumerating which ranks the candidate takes."""
    count = total = 0
    for ranks in itertools.combinations(range(1, n_b + n_c + 1), n_c):
        u = sum(ranks) - n_c * (n_c + 1) / 2
        total += 1
        count += u >= u_observed
    return count / total


def test_normal_approximation_close_to_exact():
    n_b, n_c = 9, 8
    for shift in (0.0, 0.2, 0.5):
        baseline, candidate = _draw(n_b), _draw(n_c, shift=shift)
        result = mann_whitney(baseline, candidate)
        exact = _exact_p_greater(n_b, n_c, result.u_candidate)
        assert abs(result.p_greater - exact) < 0.02, (result.p_greater, exact)


def test_direction_and_symmetry():
    baseline = _draw(30)
    slower = [x + 0.6 for x in _draw(30)]
    result = mann_whitney(baseline, slower)
    assert result.p_greater < 1e-4 < 0.5 < result.p_less
    mirrored = mann_whitney(slower, baseline)
    assert mirrored.p_less == pytest.approx(result.p_greater)


def test_all_equal_samples_give_no_evidence():
    result = mann_whitney([1.0] * 6, [1.0] * 6)
    assert result.p_greater == 1.0 and result.p_less == 1.0


def test_tie_correction_lowers_variance():
    # heavy ties: the tie-corrected z must exceed the uncorrected one for the same U
    baseline, candidate = [1.0] * 10 + [2.0] * 10, [1.0] * 5 + [2.0] * 15
    result = mann_whitney(baseline, candidate)
    n_b = n_c = 20
    uncorrected_sigma = math.sqrt(n_b * n_c * (n_b + n_c + 1) / 12)
    assert result.z > (result.u_candidate - n_b * n_c / 2) / uncorrected_sigma > 0
