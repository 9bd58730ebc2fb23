"""The period's funnel: who is where at its end, who entered, where they went next,
who left the journey and who reached its goal; per version and per segment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from report_factories import DAY, T0, Shop, shop_journey
from sqlalchemy import Engine

from journeys.errors import UnknownJourneyError
from journeys.store import session_scope, stage_funnel
from journeys.store.reports import Funnel, Period, ReportError, funnel

H = timedelta(hours=1)
UNTIL = T0 + 10 * DAY


def story(shop: Shop) -> None:
    """a buys, gets it and reviews (loyal, completed); b buys and closes the account
    (exit in purchase); c subscribes while browsing (goal); d browsed before the period
    and buys in it; e buys after it."""
    de, at = {"locale": "de", "country": "DE"}, {"locale": "de", "country": "AT"}
    shop.event("product.viewed", "d", T0 - 10 * DAY, {"locale": "en"})
    shop.event("product.viewed", "a", T0, de)
    shop.event("product.viewed", "b", T0 + H, at)
    shop.event("product.viewed", "c", T0 + 2 * H, {"locale": "en", "country": "DE"})
    shop.event("order.completed", "a", T0 + DAY)
    shop.event("order.completed", "b", T0 + DAY + H)
    shop.event("order.delivered", "a", T0 + 2 * DAY)
    shop.event("account.closed", "b", T0 + 3 * DAY)
    shop.event("order.completed", "d", T0 + 4 * DAY)
    shop.event("subscription.started", "c", T0 + 5 * DAY)
    shop.event("review.submitted", "a", T0 + 6 * DAY, rating=5)
    shop.event("order.completed", "e", T0 + 20 * DAY)


def run(engine: Engine, **scope: Any) -> Funnel:
    scope.setdefault("until", UNTIL)
    with session_scope(engine, readonly=True) as session:
        return funnel(session.connection(), Period(**scope))


def test_a_period_counts_entries_moves_exits_and_goals(engine: Engine) -> None:
    shop = Shop(engine)
    story(shop)
    result = run(engine, since=T0)

    stages = {r.stage: (r.in_stage, r.entered, r.exited, r.goal) for r in result.stages}
    assert list(stages) == ["browsing", "purchase", "evaluation", "loyal"]  # the journey's order
    assert stages == {
        "browsing": (0, 3, 0, 1),  # a, b, c entered (d before the period); c reached the goal
        "purchase": (1, 3, 1, 0),  # d is still there; b closed the account there
        "evaluation": (0, 1, 0, 0),
        "loyal": (1, 1, 0, 0),  # a completed the journey in its final stage
    }
    edges = {(e.from_stage, e.to_stage): (e.moved, e.conversion_pct) for e in result.edges}
    assert edges == {
        ("browsing", "purchase"): (2, pytest.approx(100 * 2 / 3)),  # a and b of a, b, c
        ("purchase", "evaluation"): (1, pytest.approx(100 / 3)),  # a of a, b, d
        ("evaluation", "loyal"): (1, 100.0),
    }
    (outcome,) = result.outcomes
    assert (outcome.enrolled, outcome.completed, outcome.exited, outcome.goal) == (3, 1, 1, 1)
    assert outcome.goal_pct == pytest.approx(100 / 3)


def test_split_by_country_and_a_period_before_anything(engine: Engine) -> None:
    shop = Shop(engine)
    story(shop)
    result = run(engine, since=T0, by="country")
    entered = {(r.segment, r.stage): r.entered for r in result.stages if r.entered}
    assert entered == {
        ("AT", "browsing"): 1,
        ("AT", "purchase"): 1,
        ("DE", "browsing"): 2,
        ("DE", "purchase"): 1,
        ("DE", "evaluation"): 1,
        ("DE", "loyal"): 1,
        (None, "purchase"): 1,  # d has no country
    }
    assert [r.segment for r in result.outcomes] == ["AT", "DE", None]

    early = run(engine, since=T0 - 30 * DAY, until=T0 - 20 * DAY)
    assert all(r.in_stage == r.entered == 0 for r in early.stages)
    assert not early.edges


def test_at_the_end_of_history_in_stage_is_the_stage_funnel(engine: Engine) -> None:
    shop = Shop(engine)
    story(shop)
    result = run(engine, until=T0 + 400 * DAY)
    with session_scope(engine, readonly=True) as session:
        now = {(r.stage): r.current for r in stage_funnel(session)}
        ever = {(r.stage): r.entered for r in stage_funnel(session)}
    assert {r.stage: r.in_stage for r in result.stages} == now
    # Without `since`, entered means ever (customers, as the stage funnel counts them).
    assert {r.stage: r.entered for r in result.stages} == ever


def test_versions_are_reported_apart_and_checked(engine: Engine) -> None:
    shop = Shop(engine)
    shop.event("product.viewed", "a", T0)
    v2 = shop_journey(version=2, name="Shop, second edition")
    with session_scope(engine) as session:
        shop.registry.register(session, [v2])
    shop.event("product.viewed", "b", T0 + H)
    shop.event("order.completed", "a", T0 + 2 * H)  # a stays on version 1

    both = run(engine, since=T0)
    entered = {(r.version, r.stage): r.entered for r in both.stages if r.entered}
    assert entered == {(1, "browsing"): 1, (1, "purchase"): 1, (2, "browsing"): 1}
    only = run(engine, since=T0, journey="shop", version=2)
    assert {r.version for r in only.stages} == {2}

    with pytest.raises(ReportError, match="version: journey 'shop' has no version 3; it has 1, 2"):
        run(engine, journey="shop", version=3)
    with pytest.raises(UnknownJourneyError, match="did you mean 'shop'"):
        run(engine, journey="shpo")


@pytest.mark.parametrize(
    ("scope", "message"),
    [
        ({"since": UNTIL}, "since .* must be before until"),
        ({"until": datetime(2026, 3, 1)}, "until 2026-03-01T00:00:00 has no time zone"),
        ({"by": "city"}, "by: unknown segmentation 'city'"),
        ({"version": 2}, "version: name the journey"),
        ({"journey": "shop", "version": 0}, "version must be 1 or more"),
        ({"until": "2026-03-01"}, "until must be a date and time"),
    ],
)
def test_a_period_that_describes_nothing_names_the_option(
    scope: dict[str, object], message: str
) -> None:
    with pytest.raises(ReportError, match=message):
        Period(**{"until": UNTIL, **scope})  # type: ignore[arg-type]


@given(
    st.one_of(st.none(), st.datetimes(timezones=st.sampled_from([UTC, None])), st.text(max_size=5)),
    st.one_of(st.datetimes(timezones=st.sampled_from([UTC, None])), st.integers()),
    st.one_of(st.none(), st.text(max_size=8)),
    st.one_of(st.none(), st.integers(), st.booleans(), st.text(max_size=3)),
    st.one_of(st.none(), st.just("shop")),
)
def test_any_scope_is_a_period_or_an_error_naming_the_option(
    since: Any, until: Any, by: Any, version: Any, journey: Any
) -> None:
    try:
        period = Period(until=until, since=since, by=by, version=version, journey=journey)
    except ReportError as exc:
        assert str(exc).split()[0].rstrip(":") in {"since", "until", "by", "version"}
    else:
        assert period.until.tzinfo is UTC and (period.since is None or period.since < period.until)
