"""Message statistics per template, channel and locale: outcomes of the dispatch, what
the providers reported, and rates over delivered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from report_factories import DAY, T0, Shop
from sqlalchemy import Engine

from journeys.store import session_scope
from journeys.store.outbox.claimed import ClaimedAction
from journeys.store.reports import MessageRow, Period, messages

H = timedelta(hours=1)
FATE = {
    "m2": ("skipped", "no consent"),
    "m3": ("failed", "render error: boom"),
    "m4": ("deferred", "quiet hours"),
    "m5": ("skipped", "suppressed"),
}


def fate(action: ClaimedAction) -> tuple[str, str | None]:
    return FATE.get(action.customer.external_id, ("sent", None))


@pytest.fixture
def shop(engine: Engine) -> Shop:
    """m0 … m5 view a product (a buying guide each, m1 in English); m6 is held back by
    a frequency cap and sent a day later."""
    shop = Shop(engine)
    for i in range(7):
        shop.event("product.viewed", f"m{i}", T0, {"locale": "en" if i == 1 else "de"})
    capped = {"m6": ("deferred", "frequency cap")}
    shop.dispatch(T0 + H, lambda a: capped.get(a.customer.external_id) or fate(a))
    shop.dispatch(T0 + DAY + H)  # m4 and m6 again: now they go out
    key = shop.keys("buying_guide")
    shop.provider_report(key["m0"], "delivered", T0 + 2 * H)
    shop.provider_report(key["m0"], "open", T0 + 3 * H)
    shop.provider_report(key["m0"], "open", T0 + 4 * H)  # one message, opened twice
    shop.provider_report(key["m0"], "click", T0 + 4 * H)
    shop.provider_report(key["m0"], "unsubscribe", T0 + 5 * H)
    shop.provider_report(key["m1"], "bounce", T0 + 2 * H)
    shop.provider_report(key["m1"], "open", T0 + 30 * DAY)  # after the period
    shop.provider_report(key["m6"], "delivered", T0 + DAY + 2 * H)
    shop.provider_report(key["m6"], "spamreport", T0 + DAY + 3 * H)
    return shop


def report(engine: Engine, **scope: object) -> dict[str | None, MessageRow]:
    with session_scope(engine, readonly=True) as session:
        rows = messages(session.connection(), Period(**scope))  # type: ignore[arg-type]
    assert {(r.template, r.channel) for r in rows} == {("buying_guide", "email")}
    return {r.locale: r for r in rows}


def test_what_became_of_the_messages_of_a_day(engine: Engine, shop: Shop) -> None:
    rows = report(engine, since=T0, until=T0 + 12 * H)
    de, en = rows["de"], rows["en"]
    assert (de.sent, de.delivered, de.opened, de.clicked, de.unsubscribed) == (1, 1, 1, 1, 1)
    assert (de.failed, de.bounced, de.complained) == (1, 0, 0)  # m3 failed
    assert de.skipped == {"no consent": 1, "unsubscribed": 0, "suppressed": 1, "holdout": 0,
                          "other": 0}  # fmt: skip
    # m4 and m6 were deferred in this period, but went out since: only the latest state
    # is kept, and they are no longer waiting.
    assert de.deferred == {"quiet hours": 0, "frequency cap": 0}
    assert (en.sent, en.delivered, en.bounced, en.opened) == (1, 0, 1, 0)  # the open came late
    assert (en.delivered_pct, en.bounced_pct, en.opened_pct) == (0.0, 100.0, None)
    assert (de.delivered_pct, de.opened_pct, de.clicked_pct) == (100.0, 100.0, 100.0)


def test_the_next_day_and_rates_over_delivered(engine: Engine, shop: Shop) -> None:
    (de,) = report(engine, since=T0 + 12 * H, until=T0 + 2 * DAY).values()
    # m4 and m6 went out on the second day; m6 was delivered, then reported as spam.
    assert (de.sent, de.delivered, de.complained, de.complained_pct) == (2, 1, 1, 100.0)
    assert (de.delivered_pct, de.opened_pct) == (50.0, 0.0)
    assert not any(de.skipped.values()) and de.failed == 0


def test_waiting_messages_count_as_deferred(engine: Engine) -> None:
    shop = Shop(engine)
    shop.event("product.viewed", "w", T0, {"locale": "de"})
    shop.dispatch(T0 + H, lambda a: ("deferred", "frequency cap"))
    (row,) = report(engine, since=T0, until=T0 + DAY).values()
    assert row.deferred == {"quiet hours": 0, "frequency cap": 1}
    assert row.sent == 0 and row.delivered_pct is None
