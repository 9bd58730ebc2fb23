"""Small value types of the journey language: durations, keys, locales, time zones.

Each is an `Annotated` pydantic type, so that parsing, validation messages and the
JSON Schema for editors all come from the same definition.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

_DURATION_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_DURATION_RE = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
DURATION_PATTERN = r"^(?=\d)(\d+w)?(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"


# About 100 years: longer waits are typos (and beyond timedelta's range, an error).
MAX_DURATION_SECONDS = 36_500 * 86_400


def parse_duration(value: Any) -> timedelta:
    """Parse '3d', '12h', '1d12h', '90m', '2w' into a timedelta.

    A bare number is refused on purpose: '60' is ambiguous (minutes? days?).
    """
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(
            f"a duration is a string such as '3d', '12h', '1d12h' or '90m', not {value!r}"
        )
    text = value.strip().lower().replace(" ", "")
    match = _DURATION_RE.match(text)
    if not text or not match or not any(match.groups()):
        raise ValueError(
            f"'{value}' is not a duration; write a number followed by a unit, "
            "units are w (weeks), d (days), h (hours), m (minutes), s (seconds), "
            "e.g. '3d' or '1d12h'"
        )
    seconds = sum(
        int(g) * n for g, n in zip(match.groups(), _DURATION_UNITS.values(), strict=True) if g
    )
    if seconds > MAX_DURATION_SECONDS:
        raise ValueError(f"'{value}' is longer than {MAX_DURATION_SECONDS // 86400} days")
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    seconds = int(value.total_seconds())
    if seconds == 0:
        return "0s"
    parts = []
    for unit, size in _DURATION_UNITS.items():
        if unit == "w" and seconds % size:
            continue  # '60d' reads better than '8w4d'
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts)


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("a duration must be longer than zero")
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    AfterValidator(_positive),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": DURATION_PATTERN,
            "description": "A duration: number + unit (w, d, h, m, s), e.g. '3d', '12h', '1d12h'.",
            "examples": ["3d", "12h", "60d", "1d12h"],
        }
    ),
]

KEY_PATTERN = r"^[a-z][a-z0-9_]*$"
Key = Annotated[
    str,
    Field(
        pattern=KEY_PATTERN,
        max_length=64,
        description="lower_snake_case identifier: a-z, 0-9 and _, starting with a letter",
    ),
]

LOCALE_PATTERN = r"^[a-z]{2}(-[A-Z]{2})?$"
Locale = Annotated[
    str,
    Field(pattern=LOCALE_PATTERN, description="language code such as 'de', 'en' or 'de-AT'"),
]

EVENT_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$"
EventType = Annotated[
    str,
    Field(
        pattern=EVENT_PATTERN,
        description="dotted event type such as 'order.completed' or 'review.submitted'",
    ),
]


_MAX_ZONE_NAME = 64  # the longest IANA name has 32 characters


def _check_timezone(value: str) -> str:
    try:
        # The name is looked up as a file: a long one is no zone (and no OSError either).
        if len(value) > _MAX_ZONE_NAME:
            raise ValueError(value)
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: 'Europe' is a folder
        import difflib

        zones = sorted(available_timezones()) if len(value) <= _MAX_ZONE_NAME else []
        close = difflib.get_close_matches(value, zones, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"unknown time zone {value[:40] + ('…' if len(value) > 40 else '')!r}; "
            f"use an IANA name such as 'Europe/Berlin'{hint}"
        ) from None
    return value


TimeZone = Annotated[
    str,
    AfterValidator(_check_timezone),
    WithJsonSchema({"type": "string", "description": "IANA time zone, e.g. 'Europe/Berlin'"}),
]

_CLOCK_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def parse_clock(value: str) -> time:
    match = _CLOCK_RE.match(value.strip())
    if not match:
        raise ValueError(f"'{value}' is not a time of day; write HH:MM such as '21:00'")
    return time(int(match.group(1)), int(match.group(2)))


def _parse_window(value: Any) -> tuple[time, time]:
    if isinstance(value, tuple):
        return value
    if not isinstance(value, str) or value.count("-") != 1:
        raise ValueError(
            f"quiet hours are written 'HH:MM-HH:MM', e.g. '21:00-08:00', not {value!r}"
        )
    start, end = (parse_clock(part) for part in value.split("-"))
    if start == end:
        raise ValueError("quiet hours start and end at the same time; leave them out instead")
    return start, end


QuietHours = Annotated[
    tuple[time, time],
    BeforeValidator(_parse_window),
    PlainSerializer(lambda w: f"{w[0]:%H:%M}-{w[1]:%H:%M}", return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^([01]?\d|2[0-3]):[0-5]\d-([01]?\d|2[0-3]):[0-5]\d$",
            "description": "Window in the customer's own time zone when nothing is sent, "
            "e.g. '21:00-08:00' (may wrap past midnight).",
        }
    ),
]

_CAP_RE = re.compile(r"^(\d+)\s*/\s*(\S+)$")


def _parse_cap(value: Any) -> tuple[int, timedelta]:
    if isinstance(value, tuple):
        return value
    match = _CAP_RE.match(str(value).strip()) if isinstance(value, str) else None
    if not match:
        raise ValueError(f"a frequency cap is written 'COUNT/DURATION', e.g. '3/7d', not {value!r}")
    count = int(match.group(1))
    if count < 1:
        raise ValueError("a frequency cap allows at least 1 message")
    return count, _positive(parse_duration(match.group(2)))


FrequencyCap = Annotated[
    tuple[int, timedelta],
    BeforeValidator(_parse_cap),
    PlainSerializer(lambda c: f"{c[0]}/{format_duration(c[1])}", return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\d+\s*/\s*" + DURATION_PATTERN[1:],
            "description": "At most COUNT messages per DURATION, e.g. '3/7d'.",
        }
    ),
]


def _parse_clock_value(value: Any) -> time:
    if isinstance(value, time):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a time of day is written 'HH:MM', e.g. '10:00', not {value!r}")
    return parse_clock(value)


LocalTime = Annotated[
    time,
    BeforeValidator(_parse_clock_value),
    PlainSerializer(lambda t: f"{t:%H:%M}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^([01]?\d|2[0-3]):[0-5]\d$"}),
]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Where a date is read from: the entering event's data or the customer's attributes.
DatePath = Annotated[
    str,
    Field(
        pattern=r"^(event|customer)\.[a-z][a-z0-9_]*$",
        max_length=80,
        description="event.<field> or customer.<attribute> holding an ISO 8601 date or time",
    ),
]
