"""When a scheduled action falls due: a delay after the stage entry, an offset from a
date in the data, and a send window (a local time of day, given weekdays).

Pure, like the engine that calls it: given the entry time, the action, the entering
event's data and the customer, it returns the instant (UTC) or why the action is
skipped. Local times are read in the customer's time zone (else the journey's),
exact across DST changes: a time the clocks skip means the moment they jump, a time
they repeat means its first occurrence.

- `of: event.starts_at` with `before: 1d` is a day before the date, `after: 2h` two
  hours after it, neither the date itself. Whole days count on the local calendar (the
  day before 18:00 is 18:00, across a DST change too); hours and minutes exactly. A
  date without a time (`2026-05-14`) is local midnight; a time without an offset is
  local time.
- A moment that has passed on entering the stage is skipped with the reason
  (`if_past: skip`, the default) or taken as now (`if_past: send_now`); a missing or
  unreadable date is skipped with the reason. Never silently.
- `at` and `on` then move the moment to the first instant from it on at that local
  time of day and on one of those weekdays (deferred, never dropped).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .model import Settings, _Action
from .policy import _instants_of, customer_zone
from .types import WEEKDAYS


def due_time(
    action: _Action,
    entered_at: datetime,
    event: Mapping[str, Any],
    customer: Mapping[str, Any],
    settings: Settings,
) -> tuple[datetime, str | None]:
    """(when the action falls due, None) or (entered_at, why it is skipped)."""
    zone = customer_zone(_text(customer.get("timezone")), settings)
    moment = entered_at
    if action.of is not None:
        base = read_date(action.of, event, customer, zone)
        if isinstance(base, str):
            return entered_at, base
        if action.before is not None:
            moment = shift(base, -action.before, zone)
        elif action.after is not None:
            moment = shift(base, action.after, zone)
        else:
            moment = base
        if moment < entered_at:
            if action.if_past == "skip":
                return (
                    entered_at,
                    f"the moment {_said(action)} had passed ({moment:%Y-%m-%d %H:%M} UTC)",
                )
            moment = entered_at
    elif action.after is not None:
        moment = entered_at + action.after
    if action.at is not None or action.on is not None:
        days = {WEEKDAYS.index(d) for d in action.on} if action.on else None
        moment = next_slot(moment, action.at, days, zone)
    return moment, None


def shift(moment: datetime, delta: timedelta, zone: ZoneInfo) -> datetime:
    """`moment` moved by `delta`: whole days on the local calendar ("a day before 18:00"
    is 18:00 the day before, also across a DST change), hours and minutes exactly."""
    if delta % timedelta(days=1):
        return moment + delta
    wall = moment.astimezone(zone).replace(tzinfo=None) + delta
    return _instants_of(wall.date(), wall.time(), zone)[0]


def _said(action: _Action) -> str:
    if action.before is not None:
        return f"before {action.of}"
    if action.after is not None:
        return f"after {action.of}"
    return f"of {action.of}"


def read_date(
    path: str, event: Mapping[str, Any], customer: Mapping[str, Any], zone: ZoneInfo
) -> datetime | str:
    """The instant a date path names, or why it cannot be read."""
    head, _, name = path.partition(".")
    source = event if head == "event" else customer
    value = source.get(name)
    if value is None and head == "event":
        data = event.get("data")
        value = data.get(name) if isinstance(data, Mapping) else None
    if value is None and head == "customer":
        attributes = customer.get("attributes")
        value = attributes.get(name) if isinstance(attributes, Mapping) else None
    if value is None:
        return f"no date in {path}"
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time())
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return f"{path} is not an ISO 8601 date or time: {value[:40]!r}"
    else:
        return f"{path} is not an ISO 8601 date or time: {value!r}"[:120]
    if parsed.tzinfo is None:
        return _instants_of(parsed.date(), parsed.time(), zone)[0]
    return parsed.astimezone(UTC)


def next_slot(moment: datetime, at: time | None, days: set[int] | None, zone: ZoneInfo) -> datetime:
    """The first instant from `moment` on at local time `at` (any time when None) on one
    of `days` (0 = Monday; any day when None)."""
    local = moment.astimezone(zone).date()
    for offset in range(0, 8):
        day = local + timedelta(days=offset)
        if days is not None and day.weekday() not in days:
            continue
        if at is None:
            if offset == 0:
                return moment
            return _instants_of(day, time(), zone)[0]
        later = [i for i in _instants_of(day, at, zone) if i >= moment]
        if later:
            return min(later)
    raise AssertionError("a week holds every weekday")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def next_anniversary(
    after: datetime,
    path: str,
    customer: Mapping[str, Any],
    at: time,
    zone: ZoneInfo,
    leap_day: str = "feb28",
) -> datetime | None:
    """The first yearly return of the date `path` names, at local time `at`, strictly
    after `after`; None when the customer carries no readable date. 29 February falls on
    28 February (`leap_day: feb28`) or 1 March (`mar1`) in a year without it."""
    value = read_date(path, {}, customer, zone)
    if isinstance(value, str):
        return None
    local = value.astimezone(zone).date() if value.tzinfo else value.date()
    start = after.astimezone(zone).year
    for year in range(start, start + 3):
        try:
            day = date(year, local.month, local.day)
        except ValueError:  # 29 February in a common year
            day = date(year, 2, 28) if leap_day == "feb28" else date(year, 3, 1)
        instant = _instants_of(day, at, zone)[0]
        if instant > after:
            return instant
    raise AssertionError("a date returns every year")


def next_run(cron: str, after: datetime, zone: ZoneInfo) -> datetime:
    """The first run of a cron schedule in `zone` strictly after `after` (UTC). Exact
    across DST: a time the clocks skip runs at the jump, a repeated one once."""
    from cronsim import CronSim

    local = after.astimezone(zone)
    # CronSim counts from the start of the next minute: a run at `after` itself is past.
    return next(CronSim(cron, local)).astimezone(UTC)
