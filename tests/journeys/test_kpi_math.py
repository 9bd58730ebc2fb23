"""The report's arithmetic against established libraries: Wilson intervals against
statsmodels, the NPS interval against scipy's normal interval over numpy's variance of
the +1/0/−1 scores, percentiles against numpy and Python's statistics module."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import norm
from statsmodels.stats.proportion import proportion_confint

from journeys.kpi_math import Z95, csat, interpolate, nps, pct, percentile_ranks, wilson


def test_z_is_the_two_sided_95_percent_quantile() -> None:
    assert pytest.approx(norm.ppf(0.975), abs=1e-12) == Z95


@given(st.integers(1, 5000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
def test_wilson_matches_statsmodels(counts: tuple[int, int]) -> None:
    successes, n = counts
    low, high = proportion_confint(successes, n, alpha=0.05, method="wilson")
    assert wilson(successes, n) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))


@given(st.lists(st.integers(1, 5), min_size=1, max_size=300))
def test_csat_is_the_share_of_fours_and_fives(scores: list[int]) -> None:
    satisfied = sum(s >= 4 for s in scores)
    est = csat(satisfied, len(scores))
    assert est is not None
    assert est.value == pytest.approx(100 * satisfied / len(scores))
    assert est.low <= est.value <= est.high and est.low >= 0 and est.high <= 100


@given(st.lists(st.integers(0, 10), min_size=1, max_size=300))
def test_nps_and_its_interval_match_the_mean_of_coded_scores(scores: list[int]) -> None:
    coded = np.array([1 if s >= 9 else -1 if s <= 6 else 0 for s in scores])
    est = nps(int((coded == 1).sum()), int((coded == -1).sum()), len(scores))
    assert est is not None and est.n == len(scores)
    assert est.value == pytest.approx(100 * coded.mean(), abs=1e-9)
    spread = coded.std() / np.sqrt(coded.size)
    low, high = (
        norm.interval(0.95, loc=coded.mean(), scale=spread) if spread else (coded.mean(),) * 2
    )
    assert est.low == pytest.approx(100 * max(-1.0, low), abs=1e-9)
    assert est.high == pytest.approx(100 * min(1.0, high), abs=1e-9)


def test_the_issue_examples() -> None:
    assert nps(2, 2, 6).value == 0  # type: ignore[union-attr]  # 10, 9, 8, 7, 6, 0
    assert csat(2, 4).value == 50  # type: ignore[union-attr]  # 5, 4, 3, 1
    assert nps(3, 0, 3) == (100.0, 100.0, 100.0, 3)  # no spread, no width
    assert csat(0, 0) is None and nps(0, 0, 0) is None and wilson(0, 0) is None


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=200), st.sampled_from([50, 90]))
def test_percentiles_interpolate_like_numpy(values: list[int], percent: int) -> None:
    ordered = sorted(values)
    low, high = percentile_ranks(len(values), percent)
    got = interpolate(ordered[low], ordered[high], len(values), percent)
    assert got == pytest.approx(float(np.percentile(values, percent)), rel=1e-12, abs=1e-6)
    if percent == 50:
        assert got == statistics.median(values)
    elif len(values) > 1:
        expected = statistics.quantiles(values, n=10, method="inclusive")[8]
        assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: wilson(3, 2), "successes must be between 0 and n=2"),
        (lambda: wilson(-1, 2), "successes must be between 0 and n=2"),
        (lambda: nps(2, 2, 3), "promoters \\+ detractors exceed n=3"),
        (lambda: nps(0, 0, -1), "n must be 0 or more"),
        (lambda: percentile_ranks(0, 50), "n must be 1 or more"),
        (lambda: percentile_ranks(3, 101), "percent must be 0 to 100"),
        (lambda: pct(-1, 3), "counts must be 0 or more"),
    ],
)
def test_impossible_counts_are_named(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


def test_pct_without_a_whole_is_none() -> None:
    assert pct(0, 0) is None and pct(1, 4) == 25.0
