"""Segment entries in the pure engine: a customer enters when the segment holds at a
change (any event) or when time makes it true (a tick), under the re-entry rules; and
`segment_due` names the moment time alone will make it true."""

from __future__ import annotations

from datetime import UTC, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jf_factories import Driver, at, build_journey, of_type

from journeys.decisions import Enrolled, EnrollmentState, Transitioned
from journeys.engine import customer_scope
from journeys.segments import segment_due

WINBACK = """
journey: winback
version: 1
name: Win back
reentry: {policy: after_cooldown, cooldown: 20d}
entry: {where: "customer.country == 'DE'"}
stages:
  - key: loyal
    enter_when: {segment: "orders_total >= 3 and customer.last_order_at >= now - 30d"}
  - key: lapsed
    enter_when: {segment: "customer.last_order_at < now - 90d and orders_total >= 3"}
    on_enter: [{email: we_miss_you}]
  - key: back
    enter_when: {event: order.completed, from: [lapsed]}
    final: true
"""
JOURNEY = build_journey(WINBACK, entry={"stages": ["loyal", "lapsed"], "where": "country == 'DE'"})


def driver(**attributes: Any) -> Driver:
    base = {"orders_total": 3, "last_order_at": at(0).isoformat()}
    return Driver(JOURNEY, attributes={**base, **attributes})


def test_an_event_enters_the_customer_at_the_first_segment_that_holds() -> None:
    d = driver()
    d.send("page.viewed", at(d=1), "e1")
    [enrolled] = of_type(d.log, Enrolled)
    assert (enrolled.stage, enrolled.at) == ("loyal", at(d=1))
    [moved] = of_type(d.log, Transitioned)
    assert (moved.cause, moved.trigger) == ("event:e1", 0)


def test_a_segment_that_does_not_hold_enters_nobody() -> None:
    d = driver(orders_total=2)
    d.send("page.viewed", at(d=100), "e1")
    assert d.state is None and d.log == []


def test_the_audience_filter_applies_to_segments() -> None:
    d = driver()
    d.profile = {"country": "AT"}
    d.send("page.viewed", at(d=100), "e1")
    assert d.state is None


def test_a_tick_enters_the_customer_when_time_made_the_segment_true() -> None:
    d = driver()
    assert d.tick(at(d=50)).decisions == ()  # neither loyal (30d) nor lapsed (90d)
    d.tick(at(d=91))
    [moved] = of_type(d.log, Transitioned)
    assert (moved.to_stage, moved.cause, moved.at) == ("lapsed", "timer:segment", at(d=91))
    assert [a.template for a in d.scheduled] == ["we_miss_you"]


def test_segment_due_is_the_moment_the_date_comes_due() -> None:
    customer = customer_scope("c1", {"country": "DE"}, {"orders_total": 3, "last_order_at": at(0)})
    assert segment_due(JOURNEY, None, customer, at(d=40)) == at(d=90) + timedelta(microseconds=1)
    # Already true: due at once.
    assert segment_due(JOURNEY, None, customer, at(d=10)) == at(d=10)
    # Nothing about time can make it true.
    few = {**customer, "orders_total": 2}
    assert segment_due(JOURNEY, None, few, at(d=40)) is None
    # No date on record: never by time.
    assert segment_due(JOURNEY, None, {**customer, "last_order_at": None}, at(d=40)) is None


def _ended(at_: Any) -> EnrollmentState:
    return EnrollmentState(
        "winback", 1, "c1", 1, "back", "completed", at(0), at_, 2, at_, ended_at=at_
    )


def test_segment_due_waits_for_the_cooldown_and_none_while_enrolled() -> None:
    customer = customer_scope("c1", {"country": "DE"}, {"orders_total": 3, "last_order_at": at(0)})
    # Still lapsed when the cooldown is over: time does not make it become true again.
    assert segment_due(JOURNEY, _ended(at(d=95)), customer, at(d=96)) is None
    again = {**customer, "last_order_at": at(d=80)}
    due = segment_due(JOURNEY, _ended(at(d=95)), again, at(d=96))
    assert due == at(d=170) + timedelta(microseconds=1)
    # Becomes true within the cooldown: like an event then, it does not count.
    soon = {**customer, "last_order_at": at(d=16)}
    assert segment_due(JOURNEY, _ended(at(d=95)), soon, at(d=96)) is None
    active = EnrollmentState("winback", 1, "c1", 1, "lapsed", "active", at(0), at(0), 1, at(0))
    assert segment_due(JOURNEY, active, customer, at(d=96)) is None
    never = build_journey(WINBACK, reentry={"policy": "never"})
    assert segment_due(never, _ended(at(d=95)), customer, at(d=96)) is None


def test_re_entry_by_segment_follows_the_rules() -> None:
    d = driver()
    d.tick(at(d=91))
    d.send("order.completed", at(d=92), "e1")
    assert d.state is not None and d.state.status == "completed"
    d.tick(at(d=100))  # in the cooldown
    assert d.state.number == 1
    d.tick(at(d=113))
    assert d.state.number == 2 and d.stage == "lapsed"


GARBAGE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()),
    st.lists(st.integers(), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(GARBAGE, GARBAGE, st.sampled_from(["DE", "AT", None]), st.integers(0, 400))
def test_segment_due_takes_any_attributes_and_names_a_moment_that_enters(
    last_order_at: object, orders_total: object, country: str | None, days: int
) -> None:
    attributes = {"last_order_at": last_order_at, "orders_total": orders_total}
    customer = customer_scope("c1", {"country": country}, attributes)
    after = at(d=days)
    due = segment_due(JOURNEY, None, customer, after)
    if due is not None:
        assert due >= after
        d = Driver(JOURNEY, profile={"country": country}, attributes=attributes)
        d.tick(due)
        assert d.state is not None and d.state.entered_at == due
