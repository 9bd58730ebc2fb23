"""The hot path: inbound events into the inbox, through the engine, into state and outbox.

Every function works inside the caller's transaction (one `session_scope` per batch):
either all of a batch is visible afterwards or none of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, select
from sqlmodel import Session

from ..events import CustomerProfile, IncomingEvent
from ..people.consent_events import apply_consent_events
from ..people.erased import screen_events
from ..registry import JourneyRegistry
from ..sql import chunks, insert, lock_customers
from ..tables import customer_t, enrollment_t, inbound_event_t
from .batch import Batch, Observer
from .result import BatchResult
from .segment_timers import advance_segments
from .writer import write


class Stored(NamedTuple):
    new: int
    duplicates: int


def _unique(events: Iterable[IncomingEvent]) -> tuple[list[IncomingEvent], int]:
    seen: dict[tuple[str, str], IncomingEvent] = {}
    total = 0
    for event in events:
        total += 1
        seen.setdefault((event.source, event.external_id), event)
    # Sorted by key: concurrent inserts of overlapping batches meet in the same order.
    return [seen[k] for k in sorted(seen)], total


def _insert_inbox(
    conn: Connection, events: Sequence[IncomingEvent], now: datetime, processed: bool
) -> list[IncomingEvent]:
    """INSERT … ON CONFLICT (source, external_id) DO NOTHING; returns the events that were new."""
    if not events:
        return []
    statement = (
        insert(conn, inbound_event_t)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(inbound_event_t.c.source, inbound_event_t.c.external_id)
    )
    processed_at = now if processed else None
    rows = [
        {
            "source": e.source,
            "external_id": e.external_id,
            "type": e.type,
            "customer_id": e.customer_id,
            "occurred_at": e.occurred_at,
            "payload": e.data,
            "profile": None
            if e.customer is None
            else e.customer.model_dump(mode="json", exclude_defaults=True),
            "received_at": now,
            "processed_at": processed_at,
        }
        for e in events
    ]
    inserted = {(source, external_id) for source, external_id in conn.execute(statement, rows)}
    return [e for e in events if (e.source, e.external_id) in inserted]


def store_events(
    session: Session, events: Iterable[IncomingEvent], now: datetime | None = None
) -> Stored:
    """Put events into the inbox (what a receiver does before it answers 2xx).

    A duplicate (same source and external id) is acknowledged and not stored again.
    """
    unique, total = _unique(events)
    new = _insert_inbox(session.connection(), unique, now or datetime.now(UTC), processed=False)
    return Stored(len(new), total - len(new))


def store_new_events(
    session: Session,
    events: Iterable[IncomingEvent],
    now: datetime | None = None,
    *,
    processed: bool = False,
) -> list[IncomingEvent]:
    """Like `store_events`, returning the events that were new (a receiver applies their
    side effects, such as a consent change, once, in the same transaction).

    `processed=True` stores an event for the record only: the engine never sees it
    (a provider report about a customer the store does not know).
    """
    unique, _ = _unique(events)
    return _insert_inbox(session.connection(), unique, now or datetime.now(UTC), processed)


def apply_events(
    session: Session,
    registry: JourneyRegistry,
    events: Iterable[IncomingEvent],
    now: datetime,
    *,
    observe: Observer | None = None,
) -> BatchResult:
    """Store events in the inbox and apply the new ones at once, in one transaction.

    Events already in the inbox count as duplicates and are not applied again (an
    unprocessed one is left to `process_inbox`). `observe` sees the engine's decisions.
    """
    conn = session.connection()
    unique, total = _unique(events)
    new = _insert_inbox(conn, unique, now, processed=True)
    result = _apply(conn, registry, new, now, observe)
    result.events = len(new)
    result.duplicates = total - len(new)
    return result


def process_inbox(
    session: Session, registry: JourneyRegistry, now: datetime, limit: int = 1000
) -> BatchResult:
    """Apply up to `limit` stored but unprocessed events, oldest first."""
    conn = session.connection()
    query = (
        select(inbound_event_t)
        .where(inbound_event_t.c.processed_at.is_(None))
        .order_by(inbound_event_t.c.occurred_at, inbound_event_t.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        # Parallel workers take disjoint batches instead of queueing behind each other.
        query = query.with_for_update(skip_locked=True)
    rows = conn.execute(query).all()
    events = [_from_row(row._mapping) for row in rows]
    result = _apply(conn, registry, events, now)
    ids = [row.id for row in rows]
    for part in chunks(ids):
        conn.execute(
            inbound_event_t.update().where(inbound_event_t.c.id.in_(part)).values(processed_at=now)
        )
    result.events = len(rows)
    return result


def _from_row(row: Any) -> IncomingEvent:
    # Validated when it was stored: rebuild without validating again.
    profile = row["profile"]
    return IncomingEvent.model_construct(
        source=row["source"],
        external_id=row["external_id"],
        type=row["type"],
        customer_id=row["customer_id"],
        occurred_at=row["occurred_at"],
        data=row["payload"] or {},
        customer=None if profile is None else CustomerProfile.model_construct(**profile),
    )


def _apply(
    conn: Connection,
    registry: JourneyRegistry,
    events: list[IncomingEvent],
    now: datetime,
    observe: Observer | None = None,
) -> BatchResult:
    # Nothing about an erased person reaches the engine: they are not created again.
    events = screen_events(conn, events)
    if not events:
        return BatchResult()
    events.sort(key=lambda e: (e.occurred_at, e.source, e.external_id))
    customers = {e.customer_id for e in events}
    lock_customers(conn, customers)
    batch = Batch(conn, registry, now, observe)
    batch.load(customers)
    for event in events:
        batch.apply_event(event)
    write(conn, batch, now)
    apply_consent_events(conn, events)  # after `write`: the customers exist now
    return batch.result


def advance_timers(
    session: Session,
    registry: JourneyRegistry,
    now: datetime,
    limit: int = 1000,
    *,
    observe: Observer | None = None,
) -> BatchResult:
    """Fire the time-based transitions due by `now` (`after`, `no_event_for`, delayed moves),
    and enter the customers whose segment came true by time passing.

    Reads only enrollments whose `timer_due_at` has passed, and segment timers that are
    due, through their indexes. `observe` sees the engine's decisions.
    """
    swept = _advance_enrollments(session, registry, now, limit, observe)
    return swept + advance_segments(session, registry, now, limit, observe=observe)


def _advance_enrollments(
    session: Session,
    registry: JourneyRegistry,
    now: datetime,
    limit: int,
    observe: Observer | None,
) -> BatchResult:
    conn = session.connection()
    keys = registry.keys
    if not keys:
        return BatchResult()
    due = conn.execute(
        select(enrollment_t.c.id, customer_t.c.external_id)
        .join(customer_t, customer_t.c.id == enrollment_t.c.customer_id)
        .where(enrollment_t.c.timer_due_at <= now, enrollment_t.c.journey.in_(keys))
        .order_by(enrollment_t.c.timer_due_at)
        .limit(limit)
    ).all()
    if not due:
        return BatchResult()
    # Customers another transaction is working on are left for the next sweep.
    locked = lock_customers(conn, {external_id for _, external_id in due}, wait=False)
    batch = Batch(conn, registry, now, observe)
    batch.load(locked, enrollment_ids=[id for id, external_id in due if external_id in locked])
    for row in list(batch.rows):
        # Re-checked after the lock: another transaction may have moved it meanwhile.
        cached = row.timer_cache
        if row.state.active and cached is not None and cached[1] is not None and cached[1] <= now:
            batch.tick(row, now)
            batch.result.timers += 1
    write(conn, batch, now)
    return batch.result
