"""Time in stage: median and 90th percentile for visits that ended in the period and for
those still open at its end, checked against numpy and Python's statistics module."""

from __future__ import annotations

import math
import statistics
from datetime import datetime, timedelta

import numpy as np
import pytest
from report_factories import DAY, T0, Shop
from sqlalchemy import Engine

from journeys.store import session_scope
from journeys.store.reports import Period, TimeInStageRow, time_in_stage

H = timedelta(hours=1)
M = timedelta(minutes=1)


def rows(engine: Engine, **scope: object) -> dict[tuple[str, str], TimeInStageRow]:
    with session_scope(engine, readonly=True) as session:
        found = time_in_stage(session.connection(), Period(**scope))  # type: ignore[arg-type]
    return {(r.stage, r.population): r for r in found}


def seconds(start: datetime, end: datetime) -> int:
    """The documented definition: each instant truncated to the second, then subtracted."""
    return math.floor(end.timestamp()) - math.floor(start.timestamp())


def test_percentiles_interpolate_as_numpy_and_statistics_do(engine: Engine) -> None:
    shop = Shop(engine)
    waits = [5 * M, H, 3 * H, 3 * H, 10 * H, 2 * DAY, 9 * DAY]
    viewed, bought = [], []
    for i, wait in enumerate(waits):
        # Fractions of a second on both ends: each instant counts in whole seconds.
        start = T0 + i * H + timedelta(microseconds=700_000)
        viewed.append(start)
        bought.append(start + wait - timedelta(microseconds=500_000))
        shop.event("product.viewed", f"c{i}", viewed[-1])
        shop.event("order.completed", f"c{i}", bought[-1])
    until = T0 + 30 * DAY
    found = rows(engine, since=T0, until=until)

    left = [seconds(v, b) for v, b in zip(viewed, bought, strict=True)]
    browsing = found[("browsing", "left")]
    assert browsing.n == len(left)
    assert browsing.median_s == statistics.median(left)
    assert browsing.median_s == pytest.approx(float(np.percentile(left, 50)))
    assert browsing.p90_s == pytest.approx(float(np.percentile(left, 90)))
    assert browsing.p90_s == pytest.approx(statistics.quantiles(left, n=10, method="inclusive")[8])
    assert browsing.mean_s == pytest.approx(statistics.fmean(left))
    assert browsing.max_s == max(left)

    still = [seconds(b, until) for b in bought]
    purchase = found[("purchase", "in_stage")]
    assert (purchase.n, purchase.median_s) == (len(still), statistics.median(still))
    assert purchase.p90_s == pytest.approx(float(np.percentile(still, 90)))
    assert ("purchase", "left") not in found and ("browsing", "in_stage") not in found


def test_ends_count_as_leaving_and_the_period_decides_who_counts(engine: Engine) -> None:
    shop = Shop(engine)
    shop.event("product.viewed", "early", T0 - 10 * DAY)  # left in the period, after 14 days
    shop.event("order.completed", "early", T0 + 4 * DAY)
    shop.event("product.viewed", "goal", T0 + 2 * H)
    shop.event("subscription.started", "goal", T0 + 5 * DAY)  # the goal ends the visit
    shop.event("product.viewed", "gone", T0 - 3 * DAY)
    shop.event("account.closed", "gone", T0 - DAY)  # left before the period: not counted
    shop.event("product.viewed", "late", T0 + 20 * DAY)  # after the period: not there yet

    found = rows(engine, since=T0, until=T0 + 10 * DAY)
    browsing = found[("browsing", "left")]
    expected = [14 * 86400, 5 * 86400 - 2 * 3600]
    assert (browsing.n, browsing.median_s) == (2, statistics.median(expected))
    assert found[("purchase", "in_stage")].median_s == 6 * 86400  # until - T0 - 4 days
    assert set(found) == {("browsing", "left"), ("purchase", "in_stage")}

    by_locale = rows(engine, since=T0, until=T0 + 10 * DAY, by="locale")
    assert {r.segment for r in by_locale.values()} == {None}  # nobody has a locale
