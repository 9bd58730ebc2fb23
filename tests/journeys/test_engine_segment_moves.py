"""Segment moves in the pure engine (`segment` with `from`): a customer in one of the
`from` stages moves when the condition on them holds — at once when it holds as they
enter, at the change (an event, after the event's own triggers) that makes it hold, or
at the moment time makes it hold — and never dated before the data that made it so."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jf_factories import Driver, at, build_journey, of_type

from journeys.decisions import Transitioned
from journeys.engine import MAX_CHAIN, next_timer

TIERS = """
journey: tiers
version: 1
name: Tiers
stages:
  - key: member
    enter_when: {event: account.created}
  - key: vip
    enter_when:
      - {segment: "orders_total >= 3", from: [member]}
  - key: lapsed
    enter_when:
      - {segment: "customer.last_order_at < now - 90d", from: [member, vip]}
    on_enter: [{email: we_miss_you}]
  - key: closed
    enter_when: {event: account.closed}
    final: true
"""
JOURNEY = build_journey(TIERS)


def driver(**attributes: Any) -> Driver:
    return Driver(JOURNEY, attributes={"orders_total": 0, **attributes})


def moves(d: Driver) -> list[tuple[str, str, Any]]:
    return [(t.to_stage, t.cause, t.at) for t in of_type(d.log, Transitioned)]


def test_a_change_that_makes_the_segment_hold_moves_the_customer_at_the_change() -> None:
    d = driver()
    d.send("account.created", at(d=0), "e1")
    d.attributes["orders_total"] = 3  # the profile update the event carries
    d.send("customer.updated", at(d=5), "e2")
    assert d.stage == "vip"
    assert moves(d)[-1] == ("vip", "event:e2", at(d=5))


def test_a_move_is_never_dated_before_the_change_that_made_it_true() -> None:
    d = driver()
    d.send("account.created", at(d=0), "e1")
    d.send("page.viewed", at(d=2), "e2")
    d.attributes["orders_total"] = 5
    # A sweep before the update's event finds the data already changed: the move waits
    # for the change, it is not put back to the last event the engine saw.
    d.send("customer.updated", at(d=9), "e3")
    assert moves(d)[-1] == ("vip", "event:e3", at(d=9))


def test_a_segment_that_holds_on_entry_moves_at_once() -> None:
    d = driver(orders_total=4)
    d.send("account.created", at(d=1), "e1")
    assert d.stage == "vip"
    assert moves(d) == [("member", "event:e1", at(d=1)), ("vip", "event:e1", at(d=1))]


def test_time_alone_moves_at_the_moment_the_condition_becomes_true() -> None:
    d = driver(last_order_at=at(d=0).isoformat())
    d.send("account.created", at(d=1), "e1")
    assert d.stage == "member"
    due = next_timer(JOURNEY, d.state, d.customer) if d.state else None
    assert due is not None and at(d=90) < due <= at(d=90, m=1)
    d.tick(at(d=200))
    assert d.stage == "lapsed"
    [(stage, cause, when)] = moves(d)[1:]
    assert (stage, cause, when) == ("lapsed", "timer:segment", due)


def test_an_event_after_the_due_moment_finds_the_customer_already_moved() -> None:
    d = driver(last_order_at=at(d=0).isoformat())
    d.send("account.created", at(d=1), "e1")
    d.send("page.viewed", at(d=120), "e2")  # no sweep ran in between
    assert d.stage == "lapsed"
    assert moves(d)[-1][2] < at(d=91)  # dated when it came true, before the event


def test_the_event_own_trigger_comes_first() -> None:
    d = driver(orders_total=1)
    d.send("account.created", at(d=0), "e1")
    d.attributes["orders_total"] = 3
    d.send("account.closed", at(d=3), "e2")
    assert d.stage == "closed" and not d.state.active if d.state else False
    assert "vip" not in [stage for stage, _, _ in moves(d)]


def test_customers_outside_the_from_stages_do_not_move() -> None:
    d = driver()
    d.send("account.created", at(d=0), "e1")
    d.attributes["orders_total"] = 3
    d.send("customer.updated", at(d=1), "e2")
    assert d.stage == "vip"
    d.send("customer.updated", at(d=2), "e3")  # vip is no `from` of vip
    assert [s for s, _, _ in moves(d)] == ["member", "vip"]


def test_a_ring_of_segments_that_all_hold_stops() -> None:
    ring = build_journey(
        """
        journey: ring
        version: 1
        name: Ring
        stages:
          - key: a
            enter_when:
              - {event: go}
              - {segment: "x == 1", from: [b]}
          - key: b
            enter_when: {segment: "x == 1", from: [a]}
        """
    )
    d = Driver(ring, attributes={"x": 1})
    d.send("go", at(d=0), "e1")
    assert len(of_type(d.log, Transitioned)) <= MAX_CHAIN + 2


@settings(max_examples=60, deadline=None)
@given(
    orders=st.lists(st.integers(0, 6), min_size=1, max_size=6),
    gaps=st.lists(st.integers(1, 40), min_size=6, max_size=6),
)
def test_moves_are_in_time_order_and_follow_the_data(orders: list[int], gaps: list[int]) -> None:
    d = driver(last_order_at=at(d=0).isoformat())
    d.send("account.created", at(d=0), "e0")
    day = 0
    for n, (total, gap) in enumerate(zip(orders, gaps, strict=False)):
        day += gap
        d.attributes["orders_total"] = total
        d.send("customer.updated", at(d=day), f"u{n}")
    times = [when for _, _, when in moves(d)]
    assert times == sorted(times)
    for stage, cause, when in moves(d):
        if stage == "vip":
            assert cause.startswith("event:")  # only a change makes orders_total hold
        if stage == "lapsed":
            assert when > at(d=90)  # never before time made it true
