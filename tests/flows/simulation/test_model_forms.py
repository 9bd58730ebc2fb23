"""What the model's richer forms make, drawn by the population: one outcome of several
in its share, a moment counted from the event's own date, a moved date, dates and
values given only sometimes; and the shipped model's carts, events and birthdays."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy.stats import chisquare

from flows.simulation.model import (
    SHIPPED_MODEL,
    BehaviourModel,
    Outcome,
    load_model,
    parse_model,
)
from flows.simulation.model_data import DateRange, Maybe, Moment
from flows.simulation.people import Drawing, draw_data
from flows.simulation.population import Population, _pick

DAY = timedelta(days=1)
EVENTS = """
active_hours: "00:00-23:59"
defaults:
  profiles: [{locale: de, country: DE, timezone: Europe/Berlin}]
personas:
  - key: guest
    share: 1
    starts_with:
      event: registration.created
      data:
        event_id: ev-1
        starts_at: {in: 5d..9d, at: "18:00"}
        ends_at: {in: 2h, of: starts_at}
    behaviour:
      - after: registration.created
        one_of:
          - {then: registration.cancelled, p: 0.2, in: 1d, keep: [event_id]}
          - then: registration.updated
            p: 0.3
            in: 1d
            keep: [event_id, starts_at]
            data:
              starts_at: {in: 7d, of: starts_at, at: "18:00"}
              ends_at: {in: 2h, of: starts_at}
          - then: attendance.recorded
            p: 0.5
            in: 2h..3h
            of: starts_at
            keep: [event_id]
            data: {attended: true}
"""


def _events(model: BehaviourModel, customers: int, days: int, seed: int = 5) -> list[Any]:
    population = Population(model, customers, days, seed)
    out = []
    moment = population.start
    while moment < population.end:
        moment += timedelta(hours=6)
        population.arrivals(moment)
        out.extend(population.due(moment)[0])
    return out


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_one_outcome_of_several_follows_in_its_share_and_moments_count_from_the_data() -> None:
    model, _ = parse_model(EVENTS)
    events = _events(model, 600, 40)
    by_customer: dict[str, list[Any]] = {}
    for event in events:
        by_customer.setdefault(event.customer_id, []).append(event)

    outcomes: Counter[str] = Counter()
    # Whose outcomes all fall inside the run (an attendance may come 12 days on).
    settled = datetime(2026, 9, 1, tzinfo=UTC) + 25 * DAY
    for mine in by_customer.values():
        first, *rest = mine
        if first.occurred_at >= settled:
            continue
        assert first.type == "registration.created"
        starts = _at(first.data["starts_at"])
        assert (starts.hour, starts.minute, starts.utcoffset()) in {
            (18, 0, timedelta(hours=2)),
            (18, 0, timedelta(hours=1)),
        }
        assert 4 * DAY < starts - first.occurred_at < 10 * DAY
        assert _at(first.data["ends_at"]) - starts == timedelta(hours=2)
        assert len(rest) <= 1, "at most one outcome follows a cause"
        for then in rest:
            outcomes[then.type] += 1
            assert then.data["event_id"] == "ev-1"
            if then.type == "attendance.recorded":  # after the event, counted from its start
                assert timedelta(hours=2) <= then.occurred_at - starts <= timedelta(hours=3)
            if then.type == "registration.updated":  # a week on, at the same hour
                moved = _at(then.data["starts_at"])
                assert moved.date() - starts.date() == timedelta(days=7) and moved.hour == 18
                assert _at(then.data["ends_at"]) - moved == timedelta(hours=2)
    kinds = ["registration.cancelled", "registration.updated", "attendance.recorded"]
    seen = sum(outcomes.values())
    assert (
        chisquare([outcomes[k] for k in kinds], [seen * p for p in (0.2, 0.3, 0.5)]).pvalue > 1e-4
    )


@settings(max_examples=100, deadline=None)
@given(
    ps=st.lists(st.floats(0, 1), min_size=1, max_size=5).filter(lambda ps: sum(ps) <= 1),
    roll=st.floats(0, 1, exclude_max=True),
)
def test_a_roll_falls_on_one_outcome_by_the_ps_in_order(ps: list[float], roll: float) -> None:
    outcomes = [Outcome.model_validate({"then": "order.completed", "p": p, "in": "1d"}) for p in ps]
    picked = _pick(outcomes, roll)
    edges = list(itertools.accumulate(ps, initial=0.0))
    if picked is None:  # past the p's: nothing follows
        assert roll >= edges[-1] - 1e-9
    else:  # the outcome whose stretch of [0, 1) holds the roll; never one with p = 0
        k = next(k for k, o in enumerate(outcomes) if o is picked)
        assert ps[k] > 0 and edges[k] - 1e-9 <= roll < edges[k + 1] + 1e-9


@settings(max_examples=60, deadline=None)
@given(
    first=st.dates(date(1900, 1, 1), date(2100, 12, 31)),
    span=st.integers(0, 20_000),
    leap_day=st.floats(0, 1),
    p=st.floats(0, 1),
    seed=st.integers(0, 2**32),
)
def test_a_date_is_in_its_range_and_given_in_its_share(
    first: date, span: int, leap_day: float, p: float, seed: int
) -> None:
    last = first + timedelta(days=span)
    try:
        value = Maybe(p=p, value=DateRange(date=(first, last), leap_day=leap_day))
    except ValueError:
        return  # a leap day share in a range without 29 February is refused
    rng = random.Random(seed)
    ctx = Drawing("c", 1, datetime(2026, 9, 1, tzinfo=UTC))
    drawn = [draw_data(rng, {"birthday": value}, ctx) for _ in range(20)]
    for data in drawn:
        if "birthday" in data:
            assert first <= date.fromisoformat(data["birthday"]) <= last
    if p == 0:
        assert drawn == [{}] * 20
    if p == 1 and leap_day == 1:
        assert all(data["birthday"][5:] == "02-29" for data in drawn)


@settings(max_examples=60, deadline=None)
@given(
    low=st.integers(1, 10**6),
    extra=st.integers(0, 10**6),
    hour=st.none() | st.integers(0, 23),
    seed=st.integers(0, 2**32),
)
@example(low=572400, extra=0, hour=0, seed=0)  # lands after the clocks went back
def test_a_moment_follows_what_it_counts_from(
    low: int, extra: int, hour: int | None, seed: int
) -> None:
    at = None if hour is None else f"{hour:02d}:30"
    moment = Moment.model_validate({"in": f"{low}s..{low + extra}s", "at": at})
    occurs = datetime(2026, 10, 20, 9, tzinfo=ZoneInfo("Europe/Berlin"))
    data = draw_data(random.Random(seed), {"t": moment}, Drawing("c", 1, occurs))
    found = datetime.fromisoformat(data["t"])
    if at is None:  # within the range, to the minute
        delta = found - occurs
        assert timedelta(seconds=low - 60) <= delta <= timedelta(seconds=low + extra)
    else:  # on a day the range falls on, at the time given
        assert (found.hour, found.minute) == (hour, 30)
        # Elapsed time, as the docs say: an aware datetime plus a timedelta is wall-clock
        # arithmetic in Python, an hour off across the end of summer time (25 October).
        start = occurs.astimezone(UTC)
        earliest = (start + timedelta(seconds=low)).astimezone(occurs.tzinfo).date()
        latest = (start + timedelta(seconds=low + extra)).astimezone(occurs.tzinfo).date()
        assert earliest <= found.date() <= latest


# --- the shipped model ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> BehaviourModel:
    return load_model(SHIPPED_MODEL)[0]


def test_most_shipped_customers_have_a_birthday_a_few_on_29_february(
    shipped: BehaviourModel,
) -> None:
    population = Population(shipped, 4000, 30, seed=2)
    came = population.arrivals(population.end)
    birthdays = [c.fields["attributes"].get("birthday") for c in came]
    given_ = [b for b in birthdays if b is not None]

    assert 0.65 < len(given_) / len(came) < 0.75
    leap = [b for b in given_ if b.endswith("-02-29")]
    assert 0.01 < len(leap) / len(given_) < 0.03
    assert all(1960 <= int(b[:4]) <= 2004 for b in given_)


def test_shipped_carts_are_ordered_emptied_or_left(shipped: BehaviourModel) -> None:
    events = _events(shipped, 1500, 30)
    carts = [e for e in events if e.type == "cart.updated"]
    filled = [e for e in carts if e.data["item_count"] > 0]
    emptied = [e for e in carts if e.data["item_count"] == 0]

    assert filled and emptied
    for cart in filled:  # the whole cart: its items add up to its total
        items = cart.data["items"]
        assert len(items) == cart.data["item_count"]
        assert round(sum(i["price"] * i["quantity"] for i in items), 2) == cart.data["total"]
    orders = {e.customer_id: e for e in events if e.type == "order.completed"}
    checked_out = [c for c in filled if c.customer_id in orders]
    assert 0.25 < len(checked_out) / len(filled) < 0.45
    assert all(orders[c.customer_id].data["total"] == c.data["total"] for c in checked_out)
    assert len(emptied) < len(filled) - len(checked_out), "most who do not order leave it"
