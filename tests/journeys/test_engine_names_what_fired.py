"""The engine names what fired: the trigger of each stage entry (its index in the
stage's `enter_when`), the `exit` rule that ended an enrollment, the `set_attribute`
action that set attributes. Journey coverage reads these; nothing else depends on them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from jf_factories import Driver, DriverFactory, at

from journeys.decisions import AttributesSet, Ended
from journeys.model import Journey

# Two triggers of stage `b` take the same event and differ only in their condition, so
# the event type alone cannot tell which fired.
JOURNEY = """
journey: names
version: 1
name: Names
stages:
  - key: a
    enter_when: {event: x.start}
  - key: b
    enter_when:
      - {event: go, where: "n == 1"}
      - {event: go, where: "n == 2"}
      - {after: 2d, from: [a]}
    on_enter:
      - set_attribute: {seen: true}
      - move_to: c
        when: "n == 2"
  - key: c
    enter_when:
      - {event: come, from: [a]}
      - {no_event_for: 5d, from: [b]}
exit:
  - {event: quit, where: "hard == true"}
  - {event: quit}
"""


@pytest.fixture
def names(journey_factory: Callable[..., Journey], make_driver: DriverFactory) -> Driver:
    return make_driver(journey_factory(JOURNEY))


def _entries(driver: Driver) -> list[tuple[str | None, str, int | None]]:
    return [(t.from_stage, t.to_stage, t.trigger) for t in driver.transitions]


@pytest.mark.parametrize(("n", "index"), [(1, 0), (2, 1)])
def test_the_trigger_that_fired_is_named_by_its_place_in_the_stage(
    names: Driver, n: int, index: int
) -> None:
    names.send("x.start", at(0))
    names.send("go", at(1), n=n)

    assert _entries(names)[:2] == [(None, "a", 0), ("a", "b", index)]


def test_a_move_names_no_trigger_and_a_timer_names_its_own(names: Driver) -> None:
    names.send("x.start", at(0))
    names.send("go", at(1), n=2)  # b, then at once c by the move

    assert _entries(names) == [(None, "a", 0), ("a", "b", 1), ("b", "c", None)]
    assert names.transitions[-1].cause.startswith("move_to:")

    timers = Driver(names.journey, customer_id="c2")
    timers.send("x.start", at(0))
    timers.tick(at(2))  # after 2d in a: b (its third trigger)
    timers.tick(at(8))  # 5 days without an event in b: c (its second)

    assert _entries(timers) == [(None, "a", 0), ("a", "b", 2), ("b", "c", 1)]


@pytest.mark.parametrize(("data", "rule"), [({"hard": True}, 0), ({}, 1)])
def test_an_exit_names_the_rule_that_ended_it(
    names: Driver, data: dict[str, bool], rule: int
) -> None:
    names.send("x.start", at(0))
    names.send("quit", at(1), **data)

    [ended] = [d for d in names.log if isinstance(d, Ended)]
    assert (ended.reason, ended.rule) == ("exited", rule)


def test_setting_attributes_names_the_action_and_its_stage(names: Driver) -> None:
    names.send("x.start", at(0))
    names.send("go", at(1), n=1)

    [change] = [d for d in names.log if isinstance(d, AttributesSet)]
    assert (change.stage, change.action, dict(change.values)) == ("b", "set_seen", {"seen": True})
