"""The simulation's figures per day, as SQL aggregates over the simulated store.

Each query groups by the day an instant falls on, counted from the run's start
(whole seconds since 1970 as `journeys.store.reports.sqlfuncs` reads them on SQLite
and PostgreSQL alike, divided by a day), so a figure is the same on either store and
nothing is read row by row:

- entries: enrollments begun (a re-entry is one more);
- stage populations at the end of each day: visits begun and ended per day (the
  report's `visits`), summed up day by day;
- sends per channel, journey and template, on the day they were sent;
- skips and failures per channel and reason, on the day they were decided;
- promo codes issued per campaign;
- the peak send rate: the most messages per channel falling due in one minute and in
  one second (a sent message's `due_at` is when production's per-minute dispatcher
  takes it: after any deferral it is the deferral's end).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import ColumnElement, Connection, func, select

from journeys.store.reports import Period
from journeys.store.reports.sqlfuncs import epoch_seconds, json_text
from journeys.store.reports.visits import visits
from journeys.store.tables import (
    action_run_t,
    enrollment_t,
    promo_code_t,
)

DAY_SECONDS = 86400


class Counted(NamedTuple):
    day: int
    keys: tuple[str, ...]
    n: int


class Peak(NamedTuple):
    day: int
    channel: str
    per_minute: int
    per_second: int


def _day(column: Any, start: datetime) -> ColumnElement[int]:
    return (epoch_seconds(column) - int(start.timestamp())) // DAY_SECONDS


def _counted(conn: Connection, query: Any) -> list[Counted]:
    """The rows as counts, in a fixed order (a GROUP BY promises none)."""
    rows = [
        Counted(int(day), tuple(str(k) for k in keys), int(n))
        for day, *keys, n in conn.execute(query)
    ]
    return sorted(rows)


def entries(conn: Connection, start: datetime) -> list[Counted]:
    e = enrollment_t
    day = _day(e.c.entered_at, start)
    return _counted(conn, select(day, e.c.journey, func.count()).group_by(day, e.c.journey))


def populations(conn: Connection, start: datetime, days: int) -> dict[tuple[str, str], list[int]]:
    """(journey, stage) -> customers there at the end of each day."""
    v = visits(Period(until=start + timedelta(days=days))).c
    came = _day(v.entered_at, start)
    went = _day(v.left_at, start)
    change: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * days)
    for column, sign in ((came, 1), (went, -1)):
        query = (
            select(column, v.journey, v.stage, func.count())
            .where(column.is_not(None))
            .group_by(column, v.journey, v.stage)
        )
        for day, journey, stage, n in conn.execute(query):
            if 0 <= day < days:
                change[(journey, stage)][int(day)] += sign * int(n)
    out: dict[tuple[str, str], list[int]] = {}
    for key, deltas in change.items():
        total, running = 0, []
        for delta in deltas:
            total += delta
            running.append(total)
        out[key] = running
    return out


def _what(a: Any) -> Any:
    # A webhook has no template: its endpoint's name names it.
    return func.coalesce(a.c.template, json_text(a.c.params, "webhook"), a.c.action_key)


def sends(conn: Connection, start: datetime) -> list[Counted]:
    a = action_run_t
    day = _day(a.c.send_started_at, start)
    query = (
        select(day, a.c.kind, a.c.journey, _what(a), func.count())
        .where(a.c.status == "sent")
        .group_by(day, a.c.kind, a.c.journey, _what(a))
    )
    return _counted(conn, query)


def settled(conn: Connection, start: datetime) -> list[Counted]:
    """Skipped and failed actions per day, channel, status and reason."""
    a = action_run_t
    day = _day(a.c.updated_at, start)
    reason = func.coalesce(a.c.last_error, "")
    query = (
        select(day, a.c.kind, a.c.status, reason, func.count())
        .where(a.c.status.in_(("skipped", "failed")))
        .group_by(day, a.c.kind, a.c.status, reason)
    )
    return _counted(conn, query)


def promo_codes(conn: Connection, start: datetime) -> list[Counted]:
    p = promo_code_t
    day = _day(p.c.created_at, start)
    campaign = func.coalesce(p.c.campaign, "")
    return _counted(conn, select(day, campaign, func.count()).group_by(day, campaign))


def peaks(conn: Connection, start: datetime) -> list[Peak]:
    """Per day and channel: the most sends falling due in one minute, in one second."""
    a = action_run_t
    second = epoch_seconds(a.c.due_at) - int(start.timestamp())
    found: dict[tuple[int, str], list[int]] = {}
    for size, slot in ((60, 0), (1, 1)):
        bucket = (second // size).label("bucket")
        inner = (
            select(a.c.kind.label("kind"), bucket, func.count().label("n"))
            .where(a.c.status == "sent")
            .group_by(a.c.kind, bucket)
            .subquery()
        )
        day = (inner.c.bucket * size // DAY_SECONDS).label("day")
        query = select(day, inner.c.kind, func.max(inner.c.n)).group_by(day, inner.c.kind)
        for d, kind, n in conn.execute(query):
            found.setdefault((int(d), str(kind)), [0, 0])[slot] = int(n)
    return [Peak(d, kind, m, s) for (d, kind), (m, s) in sorted(found.items())]
