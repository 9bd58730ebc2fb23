"""Customer retention rate (CRR) over the period.

    CRR = ((E − N) / S) × 100

- a customer at time t: someone with a purchase (an event of type
  `ReportOptions.purchase_event`, default `order.completed`) in the look-back window
  [t − L, t) before t (`ReportOptions.lookback`, default 365 days);
- S: customers at `since`; E: customers at `until`;
- N: new customers: those whose first purchase ever falls in [since, until).

Without `since` there is no start, and no CRR. Customers are told apart by their id
in the shop (the purchase event's `customer_id`); locale and country are the
customer's current ones. A journey's rows count only customers who had enrolled in
that journey (and version) before `until`. A period longer than L can make E − N
smaller than the customers kept (a new customer who bought only early in the period
is no longer in E); the report says so in its notes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, case, func, null, select

from ..tables import customer_t, enrollment_t, inbound_event_t
from .period import Period, slice_of
from .rows import SliceRow, row_order, slice_fields


class RetentionRow(SliceRow):
    at_start: int  # S
    at_end: int  # E
    new: int  # N
    crr_pct: float | None


def retention(conn: Connection, period: Period) -> list[RetentionRow]:
    if period.since is None:
        return []
    since, until = period.since, period.until
    i = inbound_event_t.c
    # One row per buyer: bought in the window before `since`? before `until`? first when?
    per_customer = (
        select(
            i.customer_id.label("external_id"),
            _bought(and_(i.occurred_at >= period.back(since), i.occurred_at < since)).label(
                "at_start"
            ),
            _bought(i.occurred_at >= period.back(until)).label("at_end"),
            func.min(i.occurred_at).label("first_at"),
        )
        .where(i.type == period.options.purchase_event, i.occurred_at < until)
        .group_by(i.customer_id)
        .subquery("buyers")
    )
    b = per_customer.c
    c = customer_t.c
    joined: Any = per_customer.outerjoin(customer_t, c.external_id == b.external_id)
    new = func.count().filter(b.first_at >= since)
    counts = [func.sum(b.at_start), func.sum(b.at_end), new, func.count()]  # S, E, N, buyers
    queries = []
    if period.journey is None:
        queries.append(
            select(null().label("journey"), null().label("version"), *period.segment(), *counts)
            .select_from(joined)
            .group_by(*period.segment())
        )
    e = enrollment_t.c
    enrolled = (
        select(e.customer_id, e.journey, e.version)
        .where(period.journeys(e.journey, e.version), e.entered_at < until)
        .distinct()
        .subquery("enrolled")
    )
    n = enrolled.c
    queries.append(
        select(n.journey, n.version, *period.segment(), *counts)
        .select_from(joined.join(enrolled, n.customer_id == c.id))
        .group_by(n.journey, n.version, *period.segment())
    )
    rows = []
    for query in queries:
        for raw in conn.execute(query):
            key, k = slice_of(raw, period)
            if not raw[k + 3]:
                continue  # no buyers at all (the store-wide row of an empty store)
            start, end, fresh = int(raw[k] or 0), int(raw[k + 1] or 0), int(raw[k + 2])
            crr = 100 * (end - fresh) / start if start else None
            fields = slice_fields(key)
            rows.append(RetentionRow(**fields, at_start=start, at_end=end, new=fresh, crr_pct=crr))
    return sorted(rows, key=row_order)


def _bought(condition: ColumnElement[bool]) -> Any:
    return func.max(case((condition, 1), else_=0))
