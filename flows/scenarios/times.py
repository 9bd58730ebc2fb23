"""Times in scenario files: a duration since the start ('3d') or a date and time."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, WithJsonSchema

from journeys.types import Duration, parse_duration

# A Monday morning, outside the usual quiet hours: where a scenario gives no `start`.
DEFAULT_START = datetime(2026, 3, 2, 9, 0)
# How long a scenario runs on after the last time it names, unless it says `until`.
DEFAULT_RUN_ON = timedelta(days=30)
DEFAULT_WITHIN = timedelta(hours=1)
# Dates a store keeps and a scenario plus a hundred years of durations cannot overflow.
FIRST_YEAR, LAST_YEAR = 1970, 2999

_MOMENT_HINT = (
    "write a duration since the scenario's start such as '0s', '3d' or '1d12h', "
    "or a date and time such as '2026-03-05 10:00'"
)


def parse_moment(value: Any) -> timedelta | datetime:
    """'3d' (since the start), '2026-03-05 10:00' or '2026-03-05T10:00:00+01:00'."""
    if isinstance(value, timedelta | datetime):
        return value
    if value == 0 and not isinstance(value, bool):
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time; {_MOMENT_HINT}")
    text = value.strip().removeprefix("+")
    if text == "0":
        return timedelta(0)
    try:
        return parse_duration(text)
    except ValueError as exc:
        if "longer than" in str(exc):
            raise
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise ValueError(f"{shown!r} is not a time; {_MOMENT_HINT}") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"{value!r}: a date lies in the years {FIRST_YEAR} to {LAST_YEAR}")
    return moment


def _absolute(value: Any) -> Any:
    moment = parse_moment(value)
    if isinstance(moment, timedelta):
        raise ValueError(f"{value!r}: the start is a date and time, e.g. '2026-03-02 09:00'")
    return moment


Moment = Annotated[
    timedelta | datetime,
    BeforeValidator(parse_moment),
    WithJsonSchema(
        {
            "type": ["string", "integer"],
            "description": "A duration since the scenario's start ('0s', '3d', '1d12h') or a "
            "date and time ('2026-03-05 10:00', in the customer's time zone unless it has one).",
            "examples": ["0s", "3d", "1d12h", "2026-03-05 10:00"],
        }
    ),
]
StartTime = Annotated[
    datetime,
    BeforeValidator(_absolute),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Date and time the scenario starts at; without a zone, in the "
            "customer's time zone (else the journey's).",
            "examples": ["2026-03-02 09:00", "2026-03-02T22:30:00+01:00"],
        }
    ),
]
Within = Annotated[
    Duration,
    Field(description="How far the real time may lie from `at` (default 1h)."),
]
