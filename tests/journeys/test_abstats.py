"""The A/B statistics against independent values: statsmodels' intervals, the exact
two-arm formula for the probability to be best and a seeded Monte Carlo estimate for
more arms; and the invariants any counts must keep (hypothesis)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.special import betaln
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from journeys import abstats


@st.composite
def counts(draw: st.DrawFn, min_n: int = 1, max_n: int = 200_000) -> tuple[int, int]:
    """(conversions, recipients), with rates from 0 to 1 and the extremes likely."""
    n = draw(st.integers(min_n, max_n))
    c = draw(st.one_of(st.integers(0, n), st.sampled_from([0, n]), st.integers(0, min(n, 5))))
    return c, n


@given(counts())
def test_the_rate_interval_is_wilsons_as_statsmodels_computes_it(arm: tuple[int, int]) -> None:
    c, n = arm
    got = abstats.wilson(c, n)
    assert got is not None
    low, high = proportion_confint(c, n, alpha=0.05, method="wilson")
    assert got == pytest.approx((low, high), abs=1e-12)
    assert got.low <= c / n <= got.high


@given(counts(), counts())
def test_the_difference_interval_is_newcombes_as_statsmodels_computes_it(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    got = abstats.newcombe(*a, *b)
    assert got is not None
    difference, bounds = got
    assert difference == pytest.approx(a[0] / a[1] - b[0] / b[1], abs=1e-15)
    low, high = confint_proportions_2indep(*a, *b, compare="diff", method="newcomb")
    assert bounds == pytest.approx((low, high), abs=1e-12)
    assert bounds.low <= difference <= bounds.high
    assert bounds.low >= -1 and bounds.high <= 1


@given(counts(), counts())
def test_the_relative_uplift_interval_is_katzs_log_interval(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    estimate, bounds = abstats.relative(*a, *b)
    if b[0] == 0:
        assert (estimate, bounds) == (None, None)
        return
    assert estimate == pytest.approx((a[0] / a[1]) / (b[0] / b[1]) - 1)
    if a[0] == 0:
        assert bounds is None
        return
    assert bounds is not None
    low, high = confint_proportions_2indep(*a, *b, compare="ratio", method="log")
    assert bounds == pytest.approx((low - 1, high - 1), rel=1e-9)
    assert bounds.low <= estimate <= bounds.high


def exact_two_arms(a: tuple[int, int], b: tuple[int, int]) -> float:
    """P(rate_b > rate_a) for Beta(1 + c, 1 + n - c) posteriors, in closed form
    (Evan Miller, "Formulas for Bayesian A/B testing", 2015)."""
    alpha_a, beta_a = 1 + a[0], 1 + a[1] - a[0]
    alpha_b, beta_b = 1 + b[0], 1 + b[1] - b[0]
    terms = [
        betaln(alpha_a + i, beta_a + beta_b)
        - math.log(beta_b + i)
        - betaln(1 + i, beta_b)
        - betaln(alpha_a, beta_a)
        for i in range(alpha_b)
    ]
    return float(np.exp(terms).sum())


@settings(max_examples=25, deadline=None)
@given(counts(max_n=20_000), counts(max_n=20_000))
def test_two_arms_match_the_exact_formula(a: tuple[int, int], b: tuple[int, int]) -> None:
    p_a, p_b = abstats.probability_to_be_best([a, b])
    assert p_b == pytest.approx(exact_two_arms(a, b), abs=1e-7)
    assert p_a + p_b == pytest.approx(1)


@pytest.mark.parametrize(
    "arms",
    [
        [(30, 500), (20, 480), (41, 510)],
        [(50_000, 1_000_000), (50_300, 1_000_000), (49_000, 1_000_000)],
        [(0, 50), (1, 60), (0, 10), (3, 400)],
        [(120, 1000), (118, 1000), (121, 1000), (119, 1000), (5, 60)],
    ],
)
def test_more_arms_match_a_seeded_monte_carlo_estimate(arms: list[tuple[int, int]]) -> None:
    rng = np.random.default_rng(20260302)
    draws = 400_000
    samples = np.array([rng.beta(1 + c, 1 + n - c, draws) for c, n in arms])
    estimate = np.bincount(samples.argmax(axis=0), minlength=len(arms)) / draws
    # The Monte Carlo estimate's standard error is at most 0.0008: five of them.
    assert abstats.probability_to_be_best(arms) == pytest.approx(estimate.tolist(), abs=0.004)


@settings(max_examples=15, deadline=None)
@given(st.lists(counts(min_n=0, max_n=5000), min_size=1, max_size=5), st.randoms())
def test_probabilities_sum_to_one_and_follow_their_arms(
    arms: list[tuple[int, int]], rnd: object
) -> None:
    chances = abstats.probability_to_be_best(arms)
    assert sum(chances) == pytest.approx(1, abs=1e-9)
    assert all(0 <= p <= 1 for p in chances)
    order = list(range(len(arms)))
    rnd.shuffle(order)  # type: ignore[attr-defined]
    shuffled = abstats.probability_to_be_best([arms[i] for i in order])
    assert shuffled == pytest.approx([chances[i] for i in order], abs=1e-7)


@settings(max_examples=10, deadline=None)
@given(counts(max_n=50_000), st.integers(2, 5))
def test_identical_arms_are_equally_likely_best(arm: tuple[int, int], k: int) -> None:
    assert abstats.probability_to_be_best([arm] * k) == pytest.approx([1 / k] * k, abs=1e-7)


@settings(max_examples=12, deadline=None)
@given(counts(min_n=2, max_n=50_000), counts(min_n=2, max_n=50_000))
def test_one_more_conversion_never_makes_an_arm_less_likely_best(
    a: tuple[int, int], b: tuple[int, int]
) -> None:
    c, n = a
    if c == n:
        return
    before = abstats.probability_to_be_best([a, b])[0]
    after = abstats.probability_to_be_best([(c + 1, n), b])[0]
    assert after >= before - 1e-9


@given(counts(min_n=1, max_n=100_000), counts(min_n=1, max_n=100_000), st.floats(0.5, 0.999))
def test_the_further_sample_is_the_least_that_reaches_the_threshold(
    a: tuple[int, int], b: tuple[int, int], threshold: float
) -> None:
    n = abstats.further_per_arm(a, b, threshold)
    p1, p2 = a[0] / a[1], b[0] / b[1]
    if p1 <= p2:
        assert n is None
        return
    assert n is not None

    def chance(size: int) -> float:  # the normal approximation, written out again
        variance = (p1 * (1 - p1) + p2 * (1 - p2)) / size
        return 1.0 if variance == 0 else float(stats.norm.cdf((p1 - p2) / math.sqrt(variance)))

    assert chance(n) >= threshold - 1e-9
    if n > 1:
        assert chance(n - 1) < threshold + 1e-9


@pytest.mark.parametrize("bad", [(-1, 10), (11, 10), (0, -1)])
def test_impossible_counts_are_a_clear_error(bad: tuple[int, int]) -> None:
    for call in (
        lambda: abstats.wilson(*bad),
        lambda: abstats.newcombe(*bad, 1, 2),
        lambda: abstats.relative(1, 2, *bad),
        lambda: abstats.probability_to_be_best([(1, 2), bad]),
        lambda: abstats.further_per_arm(bad, (1, 2), 0.9),
    ):
        with pytest.raises(ValueError, match="conversions <= n"):
            call()


def test_no_recipients_have_no_rate_and_an_even_chance() -> None:
    assert abstats.wilson(0, 0) is None
    assert abstats.newcombe(0, 0, 1, 2) is None
    assert abstats.relative(0, 0, 1, 2) == (None, None)
    assert abstats.probability_to_be_best([(0, 0), (0, 0)]) == pytest.approx([0.5, 0.5])
    assert abstats.probability_to_be_best([]) == []
    assert abstats.probability_to_be_best([(3, 9)]) == [1.0]
