"""Segment timers in the store: kept current by every batch, swept when due.

Every batch that decided about customers (events, profile updates, timer ticks)
asks the engine, per customer and journey with a segment entry, when time alone
would make them enter (`segments.segment_due`) and keeps that moment in
`segment_timer`, or drops the row when there is none. The sweep reads only the
rows that fell due, through (journey, due_at), and lets the engine decide as for
any timer: its cost follows the due customers, not the whole customer table.

Exactly once: the sweep takes the customers' writer locks (skipping those another
transaction holds), then reads their due rows again, so a second sweep at the same
time, or a rerun, finds them entered and their rows gone.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select
from sqlmodel import Session

from ...decisions import Tick
from ...engine import decide
from ...model import Journey
from ...segments import entries, segment_due
from ..registry import JourneyRegistry
from ..sql import chunks, insert, lock_customers
from ..tables import customer_t, segment_timer_t
from .result import BatchResult

if TYPE_CHECKING:
    from .batch import Batch, Observer

__all__ = ["advance_segments", "segment_journeys", "write_segment_timers"]


def segment_journeys(registry: JourneyRegistry) -> list[Journey]:
    """The running journeys (latest versions) that someone can enter by a segment."""
    return [j for j in (registry.latest(k) for k in registry.keys) if entries(j)]


def write_segment_timers(conn: Connection, batch: Batch) -> None:
    """Replace the segment timers of the batch's customers by what the engine says now."""
    journeys = segment_journeys(batch.registry)
    if not journeys:
        return
    upserts: list[dict[str, Any]] = []
    cleared: dict[str, list[int]] = {}
    for customer in batch.customers.values():
        if customer.id is None:
            continue
        scope = customer.scope()
        for journey in journeys:
            key = (customer.external_id, journey.journey)
            row = batch.current.get(key)
            if row is None and batch.partial:
                continue  # this batch did not load the customer's enrollment there
            state = row.state if row is not None else None
            due = segment_due(journey, state, scope, batch.now)
            if due is None:
                cleared.setdefault(journey.journey, []).append(customer.id)
            else:
                upserts.append(
                    {"customer_id": customer.id, "journey": journey.journey, "due_at": due}
                )
    for journey_key, ids in cleared.items():
        for part in chunks(sorted(ids)):
            conn.execute(
                segment_timer_t.delete().where(
                    segment_timer_t.c.journey == journey_key,
                    segment_timer_t.c.customer_id.in_(part),
                )
            )
    if upserts:
        upserts.sort(key=lambda r: (r["customer_id"], r["journey"]))
        statement = insert(conn, segment_timer_t)
        statement = statement.on_conflict_do_update(
            index_elements=["customer_id", "journey"], set_={"due_at": statement.excluded.due_at}
        )
        for rows in chunks(upserts, 300):
            conn.execute(statement, list(rows))


def _due(
    conn: Connection, keys: list[str], now: datetime, customers: Iterable[str] | None, limit: int
) -> list[tuple[str, str, datetime]]:
    """(customer external id, journey, due_at) of due segment timers, oldest first."""
    query = (
        select(customer_t.c.external_id, segment_timer_t.c.journey, segment_timer_t.c.due_at)
        .join(customer_t, customer_t.c.id == segment_timer_t.c.customer_id)
        .where(segment_timer_t.c.due_at <= now, segment_timer_t.c.journey.in_(keys))
        .order_by(segment_timer_t.c.due_at, segment_timer_t.c.id)
        .limit(limit)
    )
    if customers is not None:
        query = query.where(customer_t.c.external_id.in_(sorted(customers)))
    return [(r[0], r[1], r[2]) for r in conn.execute(query)]


def advance_segments(
    session: Session,
    registry: JourneyRegistry,
    now: datetime,
    limit: int = 1000,
    *,
    observe: Observer | None = None,
) -> BatchResult:
    """Enter the customers whose segment came true by time passing, by `now`."""
    from .batch import Batch
    from .writer import write

    conn = session.connection()
    keys = [j.journey for j in segment_journeys(registry)]
    if not keys:
        return BatchResult()
    due = _due(conn, keys, now, None, limit)
    if not due:
        return BatchResult()
    # Customers another transaction is working on are left for the next sweep.
    locked = lock_customers(conn, {external_id for external_id, _, _ in due}, wait=False)
    if not locked:
        return BatchResult()
    batch = Batch(conn, registry, now, observe)
    batch.load(locked)
    # Read again under the lock: another sweep may have entered them meanwhile.
    for external_id, key, due_at in _due(conn, keys, now, locked, limit):
        customer = batch.customers[external_id]
        row = batch.current.get((external_id, key))
        state = row.state if row is not None else None
        # At the moment the segment came true, not when the sweep got round to it.
        outcome = decide(
            registry.latest(key), state, customer.scope(), Tick(external_id), min(due_at, now)
        )
        batch.take(customer, key, row, outcome)
        batch.result.timers += 1
    write(conn, batch, now)
    return batch.result
