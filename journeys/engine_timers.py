"""When an active enrollment's next time-based transition falls due: delays, silence,
yearly dates, cron schedules and delayed moves, each counted from the stage entry."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from .decisions import EnrollmentState
from .engine_index import _Index, _index, _Timer
from .model import Journey
from .policy import customer_zone
from .send_time import next_anniversary, next_run

__all__ = ["_next_due", "next_timer"]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def next_timer(
    journey: Journey, state: EnrollmentState, customer: Mapping[str, Any] | None = None
) -> datetime | None:
    """When the next time-based transition of an active enrollment falls due."""
    due = _next_due(_index(journey), state, customer or {})
    return due[0] if due else None


def _next_due(
    ix: _Index, state: EnrollmentState, customer: Mapping[str, Any]
) -> tuple[datetime, _Timer] | None:
    if state.status != "active":
        return None
    best: tuple[datetime, _Timer] | None = None
    for timer in ix.timers.get(state.stage, ()):
        if timer.condition is not None and not timer.condition.evaluate(
            {"customer": customer, "stage": state.stage, "event": {}}
        ):
            continue
        start = state.stage_entered_at
        if timer.schedule is not None:
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
