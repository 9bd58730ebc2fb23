"""Executing a migration: customers in flight moved to a newer version, batch by batch.

Each batch is one transaction: it claims enrollments of the old version in the stages
the plan covers (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several migrations can
share the work), takes the customers' writer locks as every writer of enrollments
does (a customer the engine is working on is left for the next pass), locks their
pending actions, lets `journeys.migrate` decide, and writes the enrollment (version,
stage, timer), a transition whose cause names the migration, and the actions' fates.

Idempotent by construction: a moved enrollment is on the new version and is never
claimed again; a killed run loses only its open transaction, and running it again
moves the rest.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, fields
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, Engine, bindparam, func, select
from sqlmodel import Session

from ...migrate import MigrationPlan, Move, PendingAction, migrate_enrollment
from ...model import Journey
from ..db import session_scope
from ..sql import chunks, lock_customers
from ..tables import (
    action_run_t,
    customer_t,
    enrollment_t,
    promo_code_t,
    stage_transition_t,
)
from .load import load_customers, load_enrollments

__all__ = ["MigrationTally", "migrate_batch", "remaining", "run_migration"]


@dataclass(slots=True)
class MigrationTally:
    """What a migration did: enrollments moved (`completed` of them into a final stage),
    and their pending actions carried to the new stage, cancelled or kept as they were."""

    moved: int = 0
    completed: int = 0
    carried: int = 0
    cancelled: int = 0
    kept: int = 0
    busy: int = 0  # claimed but left alone: another writer held the customer
    batches: int = 0
    left: int = 0  # still to move when the run gave up waiting for busy customers

    def __iadd__(self, other: MigrationTally) -> MigrationTally:
        for f in fields(self):
            if f.name != "left":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        return self

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


e, a = enrollment_t.c, action_run_t.c


def _covered(plan: MigrationPlan) -> tuple[ColumnElement[bool], ...]:
    return (
        e.journey == plan.journey,
        e.version == plan.from_version,
        e.status == "active",
        e.stage.in_(sorted(plan.moves)),
    )


def remaining(conn: Connection, plan: MigrationPlan) -> int:
    """Enrollments the plan would still move."""
    return int(conn.execute(select(func.count()).where(*_covered(plan))).scalar_one())


def _claim(
    conn: Connection, plan: MigrationPlan, after_id: int, limit: int
) -> list[tuple[int, str]]:
    query = (
        select(e.id, customer_t.c.external_id)
        .join(customer_t, customer_t.c.id == e.customer_id)
        .where(*_covered(plan), e.id > after_id)
        .order_by(e.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(of=enrollment_t, skip_locked=True)
    return [(id, external_id) for id, external_id in conn.execute(query)]


def _pending(conn: Connection, ids: Sequence[int]) -> dict[int, list[PendingAction]]:
    found: dict[int, list[PendingAction]] = {}
    for part in chunks(sorted(ids)):
        query = select(
            a.enrollment_id,
            a.idempotency_key,
            a.stage_entry,
            a.action_key,
            a.kind,
            a.due_at,
            a.cancel_on_leave,
            a.send_started_at,
            a.status,
        ).where(a.enrollment_id.in_(part))
        if conn.dialect.name == "postgresql":
            # A dispatcher's claim skips these until the batch commits: their fates hold.
            query = query.where(a.status == "pending").with_for_update()
        # On SQLite the status is checked here: given it in SQL, without statistics the
        # planner prefers the (status, due_at) index and reads every pending action.
        for row in conn.execute(query):
            if row[8] == "pending":
                found.setdefault(row[0], []).append(
                    PendingAction(
                        row[1], row[2], row[3], row[4], row[5], row[6], row[7] is not None
                    )
                )
    return found


def migrate_batch(
    session: Session,
    plan: MigrationPlan,
    new: Journey,
    now: datetime,
    limit: int,
    after_id: int = 0,
) -> tuple[MigrationTally, int | None]:
    """Move up to `limit` enrollments with ids above `after_id`, in the caller's
    transaction; returns what it did and the highest id claimed (None: none left)."""
    conn = session.connection()
    claimed = _claim(conn, plan, after_id, limit)
    if not claimed:
        return MigrationTally(), None
    tally = MigrationTally(batches=1)
    locked = lock_customers(conn, {external_id for _, external_id in claimed}, wait=False)
    ids = [id for id, external_id in claimed if external_id in locked]
    tally.busy = len(claimed) - len(ids)
    customers = load_customers(conn, locked)
    by_id = {c.id: c for c in customers.values() if c.id is not None}
    rows = load_enrollments(conn, by_id, [plan.journey], ids).values()
    pending = _pending(conn, ids)
    moves: list[tuple[int, int, Move]] = []
    for row in rows:
        assert row.id is not None and row.customer.id is not None  # loaded from the store
        move = migrate_enrollment(
            plan, new, row.state, pending.get(row.id, ()), row.customer.scope(), now
        )
        if move is not None:
            moves.append((row.id, row.customer.id, move))
    _write(conn, plan, moves, now)
    for _, _, move in moves:
        tally.moved += 1
        tally.completed += not move.state.active
        tally.carried += len(move.carried)
        tally.cancelled += len(move.cancelled)
        tally.kept += len(move.kept)
    return tally, claimed[-1][0]


_move_enrollment = (
    enrollment_t.update()
    .where(e.id == bindparam("_id"), e.version == bindparam("_from"))
    .values(
        version=bindparam("_version"),
        stage=bindparam("_stage"),
        stage_entry=bindparam("_entry"),
        stage_entered_at=bindparam("_at"),
        status=bindparam("_status"),
        ended_at=bindparam("_ended_at"),
        timer_due_at=bindparam("_timer"),
    )
)
# One statement per key through the UNIQUE index, as the writer cancels (see there).
_cancel = (
    action_run_t.update()
    .where(a.idempotency_key == bindparam("_key"), a.status == "pending")
    .values(status="skipped", last_error=bindparam("_why"), updated_at=bindparam("_now"))
)
_carry = (
    action_run_t.update()
    .where(a.idempotency_key == bindparam("_key"), a.status == "pending")
    .values(
        idempotency_key=bindparam("_new"),
        stage=bindparam("_stage"),
        stage_entry=bindparam("_entry"),
        updated_at=bindparam("_now"),
    )
)
_carry_code = (
    promo_code_t.update()
    .where(promo_code_t.c.action_idempotency_key == bindparam("_key"))
    .values(action_idempotency_key=bindparam("_new"))
)


def _write(
    conn: Connection, plan: MigrationPlan, moves: list[tuple[int, int, Move]], now: datetime
) -> None:
    if not moves:
        return
    conn.execute(
        _move_enrollment,
        [
            {
                "_id": id,
                "_from": plan.from_version,
                "_version": m.state.version,
                "_stage": m.state.stage,
                "_entry": m.state.stage_entry,
                "_at": m.state.stage_entered_at,
                "_status": m.state.status,
                "_ended_at": m.state.ended_at,
                "_timer": m.timer_due_at,
            }
            for id, _, m in moves
        ],
    )
    conn.execute(
        stage_transition_t.insert(),
        [
            {
                "enrollment_id": id,
                "journey": m.transition.journey,
                "customer_id": customer_id,
                "from_stage": m.transition.from_stage,
                "to_stage": m.transition.to_stage,
                "stage_entry": m.transition.stage_entry,
                "cause": m.transition.cause[:300],
                "at": m.transition.at,
            }
            for id, customer_id, m in moves
        ],
    )
    cancelled = [
        {"_key": key, "_why": why, "_now": now} for _, _, m in moves for key, why in m.cancelled
    ]
    if cancelled:
        conn.execute(_cancel, cancelled)
    carried = [
        {
            "_key": old,
            "_new": new,
            "_stage": m.state.stage,
            "_entry": m.state.stage_entry,
            "_now": now,
        }
        for _, _, m in moves
        for old, new in m.carried
    ]
    if carried:
        conn.execute(_carry, carried)
        # A carried action keeps the promo code issued with it.
        conn.execute(_carry_code, [{"_key": c["_key"], "_new": c["_new"]} for c in carried])


def run_migration(
    engine: Engine,
    plan: MigrationPlan,
    new: Journey,
    clock: Callable[[], datetime],
    *,
    batch_size: int = 500,
    progress: Callable[[MigrationTally], None] | None = None,
    patience: int = 5,
) -> MigrationTally:
    """Move every enrollment the plan covers, one transaction per batch.

    Customers another writer holds are tried again in later passes over the ids; after
    `patience` passes that moved nobody, the run stops and `left` says how many wait.
    """
    total = MigrationTally()
    cursor, moved_in_pass, idle = 0, 0, 0
    while True:
        with session_scope(engine) as session:
            tally, last = migrate_batch(session, plan, new, clock(), batch_size, cursor)
        total += tally
        moved_in_pass += tally.moved
        if progress is not None:
            progress(total)
        if last is not None:
            cursor = last
            continue
        with session_scope(engine, readonly=True) as session:
            total.left = remaining(session.connection(), plan)
        if not total.left:
            return total
        idle = 0 if moved_in_pass else idle + 1
        if idle >= patience:
            return total
        time.sleep(0.05 * 2**idle)  # the customers' writers finish within moments
        cursor, moved_in_pass = 0, 0
