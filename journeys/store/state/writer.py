"""Write what a batch decided: a few multi-row statements per table, in one transaction.

Order matters: customers before enrollments (foreign key); enrollment updates before
inserts (an ended enrollment frees the one-active slot a re-entry takes); enrollments
before history and outbox (they reference the enrollment id); outbox before the
cancellations (an action scheduled and left within the same batch is cancelled too).
A new action with a `promo_code` gets its code right after the outbox insert, in the
same transaction; redemptions come last, so that they see every code there is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam

from ...errors import StoreError
from ..events import PROFILE_FIELDS
from ..outbox.promo import issue_codes, redeem_codes
from ..sql import insert
from ..tables import action_run_t, customer_t, enrollment_t, stage_transition_t
from .batch import Batch
from .load import CustomerRow, EnrollmentRow
from .segment_timers import write_segment_timers

_customer_update = (
    customer_t.update()
    .where(customer_t.c.id == bindparam("_id"))
    .values({name: bindparam(name) for name in (*PROFILE_FIELDS, "attributes", "updated_at")})
)

_ENROLLMENT_MUTABLE = (
    "stage",
    "status",
    "stage_entered_at",
    "stage_entry",
    "last_event_at",
    "ended_at",
    "timer_due_at",
)
_enrollment_update = (
    enrollment_t.update()
    .where(enrollment_t.c.id == bindparam("_id"))
    .values({name: bindparam(name) for name in _ENROLLMENT_MUTABLE})
)

# One statement per key through the UNIQUE index: with an IN list and no statistics,
# SQLite's planner prefers the (status, due_at) index and scans every pending action.
_cancel = (
    action_run_t.update()
    .where(
        action_run_t.c.idempotency_key == bindparam("_key"),
        action_run_t.c.status == "pending",
        # Due by the time the customer left: still owed, and sent.
        action_run_t.c.due_at > bindparam("_left_at"),
    )
    .values(
        status="skipped",
        last_error="left the stage before it was due",
        updated_at=bindparam("_now"),
    )
)


def write(conn: Connection, batch: Batch, now: datetime) -> None:
    _write_customers(conn, batch, now)
    _write_enrollments(conn, batch)
    write_segment_timers(conn, batch)
    _write_transitions(conn, batch)
    batch.result.actions_scheduled += _write_actions(conn, batch, now)
    batch.result.actions_cancelled += _cancel_left(conn, batch, now)
    if batch.redemptions:
        redeem_codes(conn, [(_id(c), code, at) for c, code, at in batch.redemptions])


def _id(customer: CustomerRow) -> int:
    if customer.id is None:  # _write_customers gave every customer of the batch an id
        raise StoreError(f"customer '{customer.external_id}' has no id yet")
    return customer.id


def _write_customers(conn: Connection, batch: Batch, now: datetime) -> None:
    new = sorted((c for c in batch.customers.values() if c.id is None), key=lambda c: c.external_id)
    if new:
        rows = [
            {
                "external_id": c.external_id,
                **{name: c.fields.get(name) for name in PROFILE_FIELDS},
                "attributes": c.attributes,
                "created_at": now,
                "updated_at": now,
            }
            for c in new
        ]
        ids = dict(
            (external_id, id)
            for id, external_id in conn.execute(
                customer_t.insert().returning(customer_t.c.id, customer_t.c.external_id), rows
            )
        )
        for c in new:
            c.id = ids[c.external_id]
            c.changed = False
    changed = [c for c in batch.customers.values() if c.changed]
    if changed:
        conn.execute(
            _customer_update,
            [
                {
                    "_id": c.id,
                    **{name: c.fields.get(name) for name in PROFILE_FIELDS},
                    "attributes": c.attributes,
                    "updated_at": now,
                }
                for c in changed
            ],
        )


def _mutable(batch: Batch, row: EnrollmentRow) -> dict[str, Any]:
    s = row.state
    return {
        "stage": s.stage,
        "status": s.status,
        "stage_entered_at": s.stage_entered_at,
        "stage_entry": s.stage_entry,
        "last_event_at": s.last_event_at,
        "ended_at": s.ended_at,
        "timer_due_at": batch.timer_due(row),
    }


def _changed(batch: Batch, row: EnrollmentRow) -> bool:
    if row.loaded is not row.state and row.loaded != row.state:
        return True
    if not (row.customer.changed and row.state.active):
        return False
    # A timer's `when` may read customer attributes: recompute it after they changed.
    stored = row.timer_cache[1] if row.timer_cache is not None else None
    row.timer_cache = None
    return batch.timer_due(row) != stored


def _write_enrollments(conn: Connection, batch: Batch) -> None:
    new: list[EnrollmentRow] = []
    changed: list[EnrollmentRow] = []
    for row in batch.rows:
        if row.id is None:
            new.append(row)
        elif _changed(batch, row):
            changed.append(row)
    # Updates first: an enrollment that ended frees the "one active" slot a re-entry takes.
    if changed:
        conn.execute(
            _enrollment_update, [{"_id": row.id, **_mutable(batch, row)} for row in changed]
        )
    if new:
        params = []
        for row in new:
            s = row.state
            params.append(
                {
                    "customer_id": row.customer.id,
                    "journey": s.journey,
                    "version": s.version,
                    "number": s.number,
                    "entered_at": s.entered_at,
                    **_mutable(batch, row),
                }
            )
        # Matched back by their natural key: asking for RETURNING in parameter order
        # would make SQLite insert one row per statement.
        by_key = {(row.customer.id, row.state.journey, row.state.number): row for row in new}
        statement = enrollment_t.insert().returning(
            enrollment_t.c.id,
            enrollment_t.c.customer_id,
            enrollment_t.c.journey,
            enrollment_t.c.number,
        )
        for id, customer_id, journey, number in conn.execute(statement, params):
            by_key[(customer_id, journey, number)].id = id
        missing = [row for row in new if row.id is None]
        if missing:
            raise StoreError(f"{len(missing)} new enrollments came back without an id")


def _write_transitions(conn: Connection, batch: Batch) -> None:
    if not batch.transitions:
        return
    conn.execute(
        stage_transition_t.insert(),
        [
            {
                "enrollment_id": row.id,
                "journey": t.journey,
                "customer_id": row.customer.id,
                "from_stage": t.from_stage,
                "to_stage": t.to_stage,
                "stage_entry": t.stage_entry,
                "cause": t.cause[:300],
                "at": t.at,
            }
            for row, t in batch.transitions
        ],
    )


def _write_actions(conn: Connection, batch: Batch, now: datetime) -> int:
    if not batch.actions:
        return 0
    statement = (
        insert(conn, action_run_t)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(action_run_t.c.idempotency_key)
    )
    result = conn.execute(
        statement,
        [
            {
                "idempotency_key": a.idempotency_key,
                "enrollment_id": row.id,
                "journey": a.journey,
                "customer_id": row.customer.id,
                "stage": a.stage,
                "stage_entry": a.stage_entry,
                "action_key": a.action_key,
                "kind": a.kind,
                "template": a.template,
                "variant": a.variant,
                "params": a.params,
                "due_at": a.due_at,
                "status": "skipped"
                if a.skip or a.idempotency_key in batch.duplicates
                else "pending",
                "last_error": a.skip or batch.duplicates.get(a.idempotency_key),
                "attempts": 0,
                "cancel_on_leave": a.cancel_on_leave,
                "created_at": now,
                "updated_at": now,
            }
            for row, a in batch.actions
        ],
    )
    landed = {key for (key,) in result}
    # Only actions inserted now: a replayed one already has its code.
    promo = [
        (_id(row.customer), a)
        for row, a in batch.actions
        if "promo_code" in a.params and a.idempotency_key in landed and not a.skip
    ]
    if promo:
        issue_codes(conn, promo, now)
    return len(landed)


def _cancel_left(conn: Connection, batch: Batch, now: datetime) -> int:
    if not batch.void:
        return 0
    result = conn.execute(
        _cancel, [{"_key": key, "_now": now, "_left_at": at} for key, at in batch.void]
    )
    return max(result.rowcount, 0)
