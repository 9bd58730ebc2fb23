"""Inbound events checked against the tracking plan before anything is stored.

An event of a declared type whose data field has the wrong type (or a value outside
its declared set) is refused with 422 naming the event and the field: the batch is
not stored, so nothing is half-written. An event of an undeclared type is stored and
logged (`undeclared_events: report`, the default) or refused (`refuse`). Without a
plan nothing is checked.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from journeys.store import IncomingEvent
from journeys.tracking import TrackingPlan, check_event_data

from .errors import Unprocessable

log = logging.getLogger("journeyflow.webhooks")


def check_events(plan: TrackingPlan | None, source: str, events: Sequence[IncomingEvent]) -> None:
    """Raise `Unprocessable` listing each event's misfits; log undeclared types."""
    if plan is None:
        return
    problems: list[dict[str, Any]] = []
    undeclared: set[str] = set()
    for n, event in enumerate(events):
        if event.type not in plan.events:
            if plan.undeclared_events == "refuse":
                problems.append(
                    {
                        "event": n,
                        "field": "type",
                        "msg": f"'{event.type}' is not in the tracking plan",
                    }
                )
            else:
                undeclared.add(event.type)
            continue
        for wrong in check_event_data(plan, event.type, dict(event.data)):
            field, _, msg = wrong.partition(": ")
            problems.append({"event": n, "field": field, "msg": msg})
    if undeclared:
        # Stored: the plan's policy is to report. `validate --events` names them too.
        log.warning(
            "%s: event type(s) not in the tracking plan: %s", source, ", ".join(sorted(undeclared))
        )
    if problems:
        named = ", ".join(f"events[{p['event']}].{p['field']}" for p in problems[:5])
        raise Unprocessable(f"events do not fit the tracking plan: {named}", detail=problems)
