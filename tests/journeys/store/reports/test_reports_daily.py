"""Messages over time: per UTC day of sending, what was sent and what providers reported."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from report_factories import DAY, T0, Shop
from sqlalchemy import Engine

from journeys.store import session_scope
from journeys.store.reports import DayRow, Period, messages, messages_by_day

H = timedelta(hours=1)


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """Day 1 (T0 is 09:00 UTC): a0, a1, a2 get a buying guide; a2's is deferred to day 2.
    Day 3: b0 views a product late at night, sent at 23:30 UTC (still day 3 in UTC)."""
    shop = Shop(engine)
    for who in ("a0", "a1", "a2"):
        shop.event("product.viewed", who, T0, {"locale": "de"})
    shop.dispatch(
        T0 + H,
        lambda a: ("deferred", "quiet hours") if a.customer.external_id == "a2" else ("sent", None),
    )
    shop.dispatch(T0 + DAY + H)
    shop.event("product.viewed", "b0", T0 + 2 * DAY + 14 * H, {"locale": "de"})
    shop.dispatch(T0 + 2 * DAY + 14 * H + 30 * timedelta(minutes=1))
    key = shop.keys("buying_guide")
    shop.provider_report(key["a0"], "delivered", T0 + 2 * H)
    shop.provider_report(key["a0"], "open", T0 + 3 * H)
    shop.provider_report(key["a0"], "open", T0 + 5 * H)  # twice: one message opened
    shop.provider_report(key["a0"], "click", T0 + 5 * H)
    shop.provider_report(key["a1"], "bounce", T0 + 2 * H)
    shop.provider_report(key["a2"], "delivered", T0 + DAY + 2 * H)
    shop.provider_report(key["b0"], "delivered", T0 + 3 * DAY)  # reported the next day
    shop.provider_report(key["b0"], "open", T0 + 20 * DAY)
    return shop


def series(engine: Engine, **scope: object) -> list[DayRow]:
    with session_scope(engine, readonly=True) as session:
        return messages_by_day(session.connection(), Period(**scope))  # type: ignore[arg-type]


def counts(rows: list[DayRow]) -> dict[date, tuple[int, ...]]:
    return {r.day: (r.sent, r.delivered, r.opened, r.clicked, r.bounced) for r in rows}


def test_each_message_counts_on_the_day_it_went_out(engine: Engine, shop: Shop) -> None:
    rows = series(engine, since=T0 - DAY, until=T0 + 10 * DAY)
    day = T0.date()
    assert {(r.journey, r.version, r.segment) for r in rows} == {("shop", 1, None)}
    assert counts(rows) == {
        day: (2, 1, 1, 1, 1),
        day + timedelta(days=1): (1, 1, 0, 0, 0),
        day + timedelta(days=2): (1, 1, 0, 0, 0),  # the open came after `until`
    }


def test_the_series_adds_up_to_the_message_totals(engine: Engine, shop: Shop) -> None:
    for scope in (
        {"since": T0 - DAY, "until": T0 + 30 * DAY},
        {"since": T0 + 12 * H, "until": T0 + 2 * DAY + 23 * H},
        {"until": T0 + DAY + 90 * timedelta(minutes=1)},
    ):
        rows = series(engine, **scope)
        with session_scope(engine, readonly=True) as session:
            totals = messages(session.connection(), Period(**scope))  # type: ignore[arg-type]
        for name in ("sent", "delivered", "opened", "clicked", "bounced"):
            assert sum(getattr(r, name) for r in rows) == sum(getattr(m, name) for m in totals), (
                scope,
                name,
            )


def test_split_by_locale_and_bounded_by_the_period(engine: Engine, shop: Shop) -> None:
    rows = series(engine, since=T0 + DAY, until=T0 + 2 * DAY, by="locale")
    assert [(r.segment, r.day, r.sent) for r in rows] == [("de", T0.date() + timedelta(days=1), 1)]
    assert series(engine, since=T0 + 5 * DAY, until=T0 + 6 * DAY) == []
