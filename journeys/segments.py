"""Segment entries: a journey entered when a condition on the customer becomes true.

    enter_when: {segment: "customer.orders_total >= 3 and customer.country == 'DE'"}

Nothing scans the customers. The engine evaluates a segment when something about a
customer changes (any event of theirs, including the `customer.updated` a profile
update writes into their history) and enrols them when it holds, the same way an
event entry does, under the same re-entry rules. A condition on time
(`customer.last_order_at < now - 90d`) can also become true with nothing changing:
`segment_due` names the moment it will, the store keeps that moment as a timer, and
the timer sweep evaluates the segment again then (a `Tick` for a customer outside
the journey). So a sweep costs what the due customers cost, not what all do.

In a segment, bare names are the customer's, like `customer.`: there is no event.

A segment with `from:` is no entry but a move of customers already in the journey;
the engine treats it as a timer of the `from` stages (engine_timers.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .condition_time import next_true
from .conditions import Condition, compile_condition
from .decisions import Enrolled, EnrollmentState
from .model import Journey, SegmentTrigger

if TYPE_CHECKING:
    from .engine import _Run

__all__ = ["SegmentEntry", "enrol", "enter_by_segment", "entries", "may_enter", "segment_due"]

# Entry is allowed only strictly after the previous enrollment ended.
_TICK = timedelta(microseconds=1)
_ALWAYS = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class SegmentEntry:
    stage: str
    condition: Condition
    trigger: int  # index in the stage's enter_when


_ENTRIES: dict[int, tuple[Journey, tuple[SegmentEntry, ...]]] = {}


def entries(journey: Journey) -> tuple[SegmentEntry, ...]:
    """The segment entries of the journey's entry stages, in declaration order."""
    hit = _ENTRIES.get(id(journey))
    if hit is not None and hit[0] is journey:
        return hit[1]
    starts = set(journey.entry_stages)
    found = tuple(
        SegmentEntry(stage.key, compile_condition(trigger.segment), n)
        for stage in journey.stages
        if stage.key in starts
        for n, trigger in enumerate(stage.enter_when)
        if isinstance(trigger, SegmentTrigger) and trigger.from_ is None
    )
    # Keep the journey referenced so its id cannot be reused while cached.
    _ENTRIES[id(journey)] = (journey, found)
    return found


def _opens(journey: Journey, previous: EnrollmentState | None) -> datetime | None:
    """The first moment a customer may enter again; None for never. Assumes the
    previous enrollment, if any, has ended."""
    if previous is None:
        return _ALWAYS
    ended = previous.ended_at or previous.stage_entered_at
    policy = journey.reentry
    if policy.policy == "never":
        return None
    if policy.policy == "after_cooldown" and policy.cooldown:
        return max(ended + policy.cooldown, ended + _TICK)
    return ended + _TICK


def may_enter(journey: Journey, previous: EnrollmentState | None, at: datetime) -> bool:
    """The re-entry rules: whether a customer may start the journey at `at`."""
    if previous is not None and previous.active:
        return False
    opens = _opens(journey, previous)
    return opens is not None and at >= opens


def enrol(
    run: _Run,
    previous: EnrollmentState | None,
    customer_id: str,
    stage: str,
    at: datetime,
    cause: str,
    event: Mapping[str, Any],
    trigger: int,
) -> EnrollmentState:
    journey = run.journey
    number = previous.number + 1 if previous else 1
    fresh = EnrollmentState(
        journey=journey.journey,
        version=journey.version,
        customer_id=customer_id,
        number=number,
        stage=stage,
        status="active",
        entered_at=at,
        stage_entered_at=at,
        stage_entry=0,
        last_event_at=at,
    )
    run.out.append(Enrolled(journey.journey, journey.version, customer_id, number, stage, at))
    return run.enter(fresh, stage, cause, at, event, trigger)


def _scope(customer: Mapping[str, Any], at: datetime) -> dict[str, Any]:
    # Bare names read the customer: a segment has no event.
    return {"customer": customer, "event": customer, "stage": None, "now": at}


def enter_by_segment(
    run: _Run, previous: EnrollmentState | None, customer_id: str, at: datetime, cause: str
) -> EnrollmentState | None:
    """Enrol the customer at the first segment entry that holds at `at`, if any may."""
    found = entries(run.journey)
    if not found or not may_enter(run.journey, previous, at):
        return None
    scope = _scope(run.customer, at)
    where = run.ix.entry_where
    if where is not None and not where.evaluate(scope):
        return None
    for entry in found:
        if entry.condition.evaluate(scope):
            return enrol(run, previous, customer_id, entry.stage, at, cause, {}, entry.trigger)
    return None


def segment_due(
    journey: Journey,
    state: EnrollmentState | None,
    customer: Mapping[str, Any],
    after: datetime,
) -> datetime | None:
    """When a customer outside the journey will enter it by time passing alone: the
    first moment from `after` at which a segment holds and the re-entry rules allow
    (after an earlier enrollment, one at which it becomes true). None when only a
    change could make them enter (or nothing can)."""
    found = entries(journey)
    if not found or (state is not None and state.active):
        return None
    opens = _opens(journey, state)
    if opens is None:
        return None
    start = max(after, opens)
    where = compile_condition(journey.entry.where) if journey.entry.where else None
    best: datetime | None = None
    for entry in found:
        scope = _scope(customer, start)
        if not entry.condition.evaluate(scope):
            at = next_true(entry.condition, scope, start)
        elif state is None:
            at = start  # in the segment and never entered: at once
        else:
            # Still in the segment when re-entry opens: time does not make it become true
            # again (a sweep would re-enter them at every end); their next change may.
            continue
        if at is None or (best is not None and at >= best):
            continue
        if where is None or where.evaluate(_scope(customer, at)):
            best = at
    return best
