"""When an active enrollment's next time-based transition falls due: delays, silence,
yearly dates, cron schedules and delayed moves, each counted from the stage entry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .condition_time import next_true
from .conditions import Condition
from .decisions import EnrollmentState
from .engine_index import _Index, _index, _Timer
from .model import Journey
from .policy import customer_zone
from .send_time import next_anniversary, next_run

__all__ = ["_next_due", "next_timer"]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def next_timer(
    journey: Journey,
    state: EnrollmentState,
    customer: Mapping[str, Any] | None = None,
    changed_at: datetime | None = None,
) -> datetime | None:
    """When the next time-based transition of an active enrollment falls due
    (`changed_at`: as in `Tick`)."""
    due = _next_due(_index(journey), state, customer or {}, changed_at)
    return due[0] if due else None


def _next_due(
    ix: _Index,
    state: EnrollmentState,
    customer: Mapping[str, Any],
    changed_at: datetime | None = None,
) -> tuple[datetime, _Timer] | None:
    """The first timer of the customer's stage to fall due, and when.

    `changed_at`: the customer's data as given is as of this moment (an event being
    applied changed it), so a segment move cannot fall due before it."""
    if state.status != "active":
        return None
    best: tuple[datetime, _Timer] | None = None
    for timer in ix.timers.get(state.stage, ()):
        if timer.condition is not None and not timer.condition.evaluate(
            {"customer": customer, "stage": state.stage, "event": {}}
        ):
            continue
        start = state.stage_entered_at
        if timer.segment is not None:
            found = _segment_due(timer.segment, state, customer, changed_at)
            if found is None:
                continue
            at = found
        elif timer.schedule is not None:
            assert timer.settings is not None
            zone = ZoneInfo(timer.schedule.timezone or timer.settings.timezone)
            at = next_run(timer.schedule.every, start, zone)
        elif timer.yearly is not None:
            assert timer.settings is not None
            yearly = timer.yearly
            zone = customer_zone(_text(customer.get("timezone")), timer.settings)
            found = next_anniversary(
                start, yearly.every_year, customer, yearly.at, zone, yearly.leap_day
            )
            if found is None:
                continue  # no date on record: no birthday to wait for
            at = found
        else:
            if timer.since_last_event and state.last_event_at > start:
                start = state.last_event_at
            at = start + timer.delay
        if best is None or at < best[0]:
            best = (at, timer)
    return best


def _segment_due(
    condition: Condition,
    state: EnrollmentState,
    customer: Mapping[str, Any],
    changed_at: datetime | None,
) -> datetime | None:
    """When a segment move falls due: the first moment, from the later of the stage
    entry and the customer's last event, at which the condition holds.

    The data is the customer's as of `changed_at` when given (else of their last
    event). A condition that holds at the start with it may hold only because of that
    change, so it is dated at the change, never before; one that time makes true later
    is dated when it does."""
    start = max(state.stage_entered_at, state.last_event_at)
    # Bare names read the customer, as in a segment entry: there is no event.
    scope = {"customer": customer, "event": customer, "stage": state.stage, "now": start}
    if condition.evaluate(scope):
        return start if changed_at is None else max(start, changed_at)
    return next_true(condition, scope, start)
