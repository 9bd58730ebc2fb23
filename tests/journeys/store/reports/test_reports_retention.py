"""CRR = ((E − N) / S) × 100 over a hand-made purchase history."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from report_factories import Shop
from sqlalchemy import Engine

from journeys.store import session_scope
from journeys.store.reports import Period, ReportOptions, RetentionRow, retention

SINCE = datetime(2026, 1, 1, tzinfo=UTC)
UNTIL = datetime(2026, 4, 1, tzinfo=UTC)


def day(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


PURCHASES = {
    # customer: (country, purchase days); the look-back window is 365 days, so a
    # customer at the start bought in [2025-01-01, 2026-01-01), at the end in
    # [2025-04-01, 2026-04-01).
    "p1": ("DE", ["2025-06-01", "2026-02-01"]),  # kept
    "p2": ("DE", ["2025-02-01"]),  # lost: only at the start
    "p3": ("FR", ["2024-06-01"]),  # gone before the period
    "p4": ("AT", ["2026-02-15"]),  # new
    "p5": (None, ["2026-03-01", "2026-03-05"]),  # new, twice
    "p6": (None, ["2025-12-31T23:59:00"]),  # kept by a minute
    "p7": (None, ["2026-05-01"]),  # after the period
    "p8": (None, ["2025-03-01", "2026-05-01"]),  # lost: in no window at the end
}


@pytest.fixture
def shop(engine: Engine) -> Shop:
    shop = Shop(engine)
    for who, (country, days) in PURCHASES.items():
        profile = {"country": country} if country else None
        for at in days:
            shop.event("order.completed", who, day(at), profile, total=10)
        shop.event("page.viewed", who, day("2026-01-05"))  # not a purchase
    shop.event("product.viewed", "p1", day("2026-01-10"))  # p1 and p4 enter the journey
    shop.event("product.viewed", "p4", day("2026-01-10"))
    return shop


def crr(engine: Engine, **scope: object) -> list[RetentionRow]:
    with session_scope(engine, readonly=True) as session:
        return retention(session.connection(), Period(until=UNTIL, **scope))  # type: ignore[arg-type]


def test_crr_of_the_store_and_of_a_journeys_customers(engine: Engine, shop: Shop) -> None:
    whole, journey = crr(engine, since=SINCE)
    # S = p1, p2, p6, p8; E = p1, p4, p5, p6; N = p4, p5: (4 - 2) / 4.
    assert (whole.journey, whole.at_start, whole.at_end, whole.new) == (None, 4, 4, 2)
    assert whole.crr_pct == 50.0
    # The journey's customers, p1 and p4: S = p1, E = p1, p4, N = p4.
    assert (journey.journey, journey.version) == ("shop", 1)
    assert (journey.at_start, journey.at_end, journey.new, journey.crr_pct) == (1, 2, 1, 100.0)
    assert crr(engine, since=SINCE, journey="shop") == [journey]


def test_crr_by_country_and_without_a_start(engine: Engine, shop: Shop) -> None:
    rows = {
        r.segment: (r.at_start, r.at_end, r.new, r.crr_pct)
        for r in crr(engine, since=SINCE, by="country")
        if r.journey is None
    }
    assert rows == {
        "AT": (0, 1, 1, None),  # nobody at the start: no rate
        "DE": (2, 1, 0, 50.0),
        "FR": (0, 0, 0, None),
        None: (2, 2, 1, 50.0),
    }
    assert crr(engine) == []  # no since, no start


def test_the_purchase_event_and_window_are_options(engine: Engine, shop: Shop) -> None:
    short = ReportOptions(lookback=UNTIL - SINCE)  # 90 days
    (whole, _) = crr(engine, since=SINCE, options=short)
    # S: bought in [2025-10-03, 2026-01-01): p6. E: in [2026-01-01, 2026-04-01): p1, p4, p5.
    assert (whole.at_start, whole.at_end, whole.new, whole.crr_pct) == (1, 3, 2, 100.0)
    views = crr(engine, since=SINCE, options=ReportOptions(purchase_event="page.viewed"))
    # Everybody viewed a page on 2026-01-05, for the first time: S = 0.
    assert (views[0].at_start, views[0].at_end, views[0].new) == (0, 8, 8)
