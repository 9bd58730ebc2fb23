"""Messages over time: per journey version and UTC day, the emails and SMS sent that day
and what the providers reported about them before `until`.

The same definitions as `messages` (a message counts on the day its send started; an
`unknown` outcome counts as sent; each message once per kind of report), summed per
day instead of per template: the series the HTML report draws. Days without a send
are not listed (a chart draws them as gaps, a table does not need them).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, func, select

from ..people.consent import COUNTED_STATUSES, sent_at_column
from ..tables import action_run_t, customer_t, enrollment_t
from .messages import reported
from .period import Period, slice_of
from .rows import SliceRow, row_order, slice_fields
from .sqlfuncs import utc_day

SERIES = ("delivered", "opened", "clicked", "bounced")


class DayRow(SliceRow):
    day: date
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int


def messages_by_day(conn: Connection, period: Period) -> list[DayRow]:
    a, e = action_run_t.c, enrollment_t.c
    reports = reported(period)
    r = reports.c
    day = utc_day(sent_at_column).label("day")
    keys: list[Any] = [a.journey, e.version, *period.segment()]
    joined: Any = action_run_t.join(enrollment_t, e.id == a.enrollment_id)
    if period.by is not None:
        joined = joined.join(customer_t, customer_t.c.id == a.customer_id)
    query = (
        select(
            *keys,
            day,
            func.count(),
            *(func.coalesce(func.sum(r[name]), 0) for name in SERIES),
        )
        .select_from(joined.outerjoin(reports, r.action_run_id == a.id))
        .where(
            a.kind.in_(("email", "sms")),
            a.status.in_(COUNTED_STATUSES),
            period.journeys(a.journey, e.version),
            period.within(sent_at_column),
        )
        .group_by(*keys, day)
    )
    rows = []
    for raw in conn.execute(query):
        key, i = slice_of(raw, period)
        counts = dict(zip(("sent", *SERIES), (int(x) for x in raw[i + 1 :]), strict=True))
        rows.append(DayRow(**slice_fields(key), day=date.fromisoformat(raw[i]), **counts))
    return sorted(rows, key=lambda x: (*row_order(x), x.day))
