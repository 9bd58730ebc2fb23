"""An email's attachments against the tracking plan: every field a calendar file reads
is in the data of every event that enters the stage, dates are dates, text is text.

The file is built from the event templates see: the one behind the stage entry, or
after a wait the one that entered the stage waited in; a stage entered by a yearly
date, a schedule or a move_to has no data to build it from.
"""

from __future__ import annotations

from .errors import did_you_mean
from .loader import Path_
from .model import EmailAction, Journey
from .model_attach import CalendarFile
from .tracking import TrackingPlan
from .validate_places import Places
from .validate_tracking import TIMER, Context, contexts

_DATES = ("starts_at", "ends_at")
_TEXT = ("string", "number", "integer")


def _check_calendar(
    places: Places, path: Path_, spec: CalendarFile, reach: set[Context], plan: TrackingPlan
) -> None:
    if TIMER in reach:
        places.add(
            path,
            "attach.calendar: a yearly date, a schedule or a move_to enters this stage, with "
            "no event to read the calendar entry from; enter the stage by the event, or by "
            "a wait (after, no_event_for) from a stage the event enters",
        )
    for name, source in spec.fields().items():
        where = (*path, name)
        field = source.partition(".")[2]
        for event in sorted(e for e in reach if e is not None):
            found = plan.events.get(event)
            if found is None:
                continue  # reported where the event type is named
            declared = found.data.get(field)
            if declared is None:
                places.add(
                    where,
                    f"attach.calendar.{name}: event field '{field}' is not in the data of "
                    f"'{event}' in the tracking plan{did_you_mean(field, list(found.data))}",
                )
            elif name in _DATES and declared.type != "datetime":
                places.add(
                    where,
                    f"attach.calendar.{name}: {event} field '{field}' is a {declared.type}, "
                    "not a datetime",
                )
            elif name not in _DATES and declared.type not in _TEXT:
                places.add(
                    where,
                    f"attach.calendar.{name}: {event} field '{field}' is a {declared.type}, "
                    "not text",
                )


def check_attachments(journey: Journey, plan: TrackingPlan, places: Places) -> None:
    """Add a problem for each attachment field the events entering its stage lack."""
    reach = contexts(journey, carried_by_moves=False, carried_by_waits=True)
    for i, stage in enumerate(journey.stages):
        for a, action in enumerate(stage.on_enter):
            if isinstance(action, EmailAction) and action.attach is not None:
                path = ("stages", i, "on_enter", a, "attach", "calendar")
                _check_calendar(places, path, action.attach.calendar, reach[stage.key], plan)
