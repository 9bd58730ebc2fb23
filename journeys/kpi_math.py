"""The arithmetic of the report's figures: intervals, percentiles, rates. Pure.

The store counts (SQL aggregates); these turn counts into the figures a marketer
reads, the same way whatever database counted them.

- CSAT: the share of satisfied answers (4 or 5 on 1–5), with the Wilson score interval
  (E. B. Wilson, "Probable inference, the law of succession, and statistical
  inference", JASA 22 (1927) 209–212), which keeps to [0, 1] and stays sensible for
  small samples and shares near 0 or 1, where the plain normal interval does not.
- NPS: % promoters (9–10) − % detractors (0–6) on 0–10. Its interval is the normal
  (Wald) interval of a difference of two proportions of one trinomial sample: with
  p₊, p₋ the shares of promoters and detractors of n answers,
  Var(p₊ − p₋) = (p₊ + p₋ − (p₊ − p₋)²) / n, because Cov(p₊, p₋) = −p₊p₋/n
  (see B. Rocks, "Interval estimation for the 'Net Promoter Score'", The American
  Statistician 70 (2016) 365–372). Equivalently: the z-interval of the mean of
  scores mapped to +1 / 0 / −1. Clipped to [−100, 100].
- Percentiles: linear interpolation between the order statistics around
  h = (n − 1)·p (Hyndman and Fan's definition 7: numpy's default, Python's
  `statistics.quantiles(method="inclusive")`, PostgreSQL's `percentile_cont`); the
  median of an even count is the mean of the middle two.
"""

from __future__ import annotations

import math
from fractions import Fraction
from statistics import NormalDist
from typing import NamedTuple

__all__ = [
    "Z95",
    "Estimate",
    "csat",
    "interpolate",
    "nps",
    "pct",
    "percentile_ranks",
    "wilson",
]

# The two-sided 95 % quantile of the standard normal distribution (1.959963984540054).
Z95 = NormalDist().inv_cdf(0.975)


class Estimate(NamedTuple):
    """A figure with its 95 % interval and the number of answers behind it."""

    value: float
    low: float
    high: float
    n: int


def _check_counts(n: int, **parts: int) -> None:
    if n < 0:
        raise ValueError(f"n must be 0 or more, got {n}")
    for name, count in parts.items():
        if not 0 <= count <= n:
            raise ValueError(f"{name} must be between 0 and n={n}, got {count}")
    if sum(parts.values()) > n:
        raise ValueError(f"{' + '.join(parts)} exceed n={n}")


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval of a proportion, as fractions; None without observations."""
    _check_counts(n, successes=successes)
    if n == 0:
        return None
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    scale = 1 + z * z / n
    # At 0 and n the bound is exactly 0 or 1; in floating point it comes out 1e-15 off.
    low = 0.0 if successes == 0 else max(0.0, (centre - margin) / scale)
    high = 1.0 if successes == n else min(1.0, (centre + margin) / scale)
    return low, high


def csat(satisfied: int, n: int) -> Estimate | None:
    """CSAT in percent: satisfied answers (4–5 of 1–5) among all, with Wilson's interval."""
    interval = wilson(satisfied, n)
    if interval is None:
        return None
    return Estimate(100 * satisfied / n, 100 * interval[0], 100 * interval[1], n)


def nps(promoters: int, detractors: int, n: int, z: float = Z95) -> Estimate | None:
    """NPS in points (−100 to 100) with the trinomial Wald interval (see the module)."""
    _check_counts(n, promoters=promoters, detractors=detractors)
    if n == 0:
        return None
    plus, minus = promoters / n, detractors / n
    score = plus - minus
    variance = max(0.0, plus + minus - score * score) / n
    margin = z * math.sqrt(variance)
    low, high = max(-1.0, score - margin), min(1.0, score + margin)
    return Estimate(100 * score, 100 * low, 100 * high, n)


def percentile_ranks(n: int, percent: int) -> tuple[int, int]:
    """The 0-based ranks of the two order statistics the `percent` percentile of n
    values lies between (equal when it falls on one). SQL picks the values at these
    ranks with the same integer arithmetic: floor and ceiling of (n − 1)·percent / 100."""
    if n < 1:
        raise ValueError(f"n must be 1 or more, got {n}")
    if not 0 <= percent <= 100:
        raise ValueError(f"percent must be 0 to 100, got {percent}")
    scaled = (n - 1) * percent
    return scaled // 100, (scaled + 99) // 100


def interpolate(low: float, high: float, n: int, percent: int) -> float:
    """The `percent` percentile from the order statistics at `percentile_ranks(n, percent)`."""
    percentile_ranks(n, percent)  # checks n and percent
    fraction = Fraction(((n - 1) * percent) % 100, 100)
    if fraction == 0:
        return float(low)
    return float(Fraction(low) + (Fraction(high) - Fraction(low)) * fraction)


def pct(part: int, whole: int) -> float | None:
    """`part` as a percentage of `whole`; None when there is no whole to divide by."""
    if whole < 0 or part < 0:
        raise ValueError(f"counts must be 0 or more, got {part} of {whole}")
    return None if whole == 0 else 100 * part / whole
