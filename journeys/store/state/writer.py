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
from ..bulk_insert import BulkInsert
from ..events import PROFILE_FIELDS
from ..outbox.promo import issue_codes, redeem_codes
from ..people.bulk import BulkWrite
from ..tables import action_run_t, customer_t, enrollment_t, stage_transition_t
from .batch import Batch
from .load import CustomerRow, EnrollmentRow
from .segment_timers import write_segment_timers

_CUSTOMER_VALUES = (*PROFILE_FIELDS, "attributes", "updated_at")
_insert_customers = BulkInsert(
    customer_t, ("external_id", *_CUSTOMER_VALUES, "created_at"), returning=("id", "external_id")
)
_update_customers = BulkWrite(customer_t, _CUSTOMER_VALUES, key="id")

_ENROLLMENT_MUTABLE = (
    "stage",
    "status",
    "stage_entered_at",
    "stage_entry",
    "last_event_at",
    "ended_at",
    "timer_due_at",
)
_ENROLLMENT_FIXED = ("customer_id", "journey", "version", "number", "entered_at")
# Matched back by their natural key: RETURNING gives no parameter order.
_insert_enrollments = BulkInsert(
    enrollment_t,
    (*_ENROLLMENT_FIXED, *_ENROLLMENT_MUTABLE),
    returning=("id", "customer_id", "journey", "number"),
)
_update_enrollments = BulkWrite(enrollment_t, _ENROLLMENT_MUTABLE, key="id")

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
            (
                c.external_id,
                *(c.fields.get(name) for name in PROFILE_FIELDS),
                *(c.attributes, now, now),
            )
            for c in new
        ]
        ids = {external_id: id for id, external_id in _insert_customers.run(conn, rows)}
        for c in new:
            c.id = ids[c.external_id]
            c.changed = False
    changed = [c for c in batch.customers.values() if c.changed]
    _update_customers.run(
        conn,
        [
            (*(c.fields.get(name) for name in PROFILE_FIELDS), c.attributes, now, c.id)
            for c in changed
        ],
    )


def _mutable(batch: Batch, row: EnrollmentRow) -> tuple[Any, ...]:
    s = row.state
    return (
        *(s.stage, s.status, s.stage_entered_at, s.stage_entry, s.last_event_at, s.ended_at),
        batch.timer_due(row),
    )


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
    _update_enrollments.run(conn, [(*_mutable(batch, row), row.id) for row in changed])
    if not new:
        return
    params = []
    for row in new:
        s = row.state
        params.append(
            (row.customer.id, s.journey, s.version, s.number, s.entered_at, *_mutable(batch, row))
        )
    by_key = {(row.customer.id, row.state.journey, row.state.number): row for row in new}
    for id, customer_id, journey, number in _insert_enrollments.run(conn, params):
        by_key[(customer_id, journey, number)].id = id
    missing = [row for row in new if row.id is None]
    if missing:
        raise StoreError(f"{len(missing)} new enrollments came back without an id")


_insert_transitions = BulkWrite(
    stage_transition_t,
    (
        *("enrollment_id", "journey", "customer_id", "from_stage", "to_stage"),
        *("stage_entry", "cause", "at"),
    ),
)


def _write_transitions(conn: Connection, batch: Batch) -> None:
    _insert_transitions.run(
        conn,
        [
            (
                *(row.id, t.journey, row.customer.id, t.from_stage, t.to_stage),
                *(t.stage_entry, t.cause[:300], t.at),
            )
            for row, t in batch.transitions
        ],
    )


_ACTION_COLUMNS = (
    "idempotency_key",
    "enrollment_id",
    "journey",
    "customer_id",
    "stage",
    "stage_entry",
    "action_key",
    "kind",
    "template",
    "variant",
    "params",
    "due_at",
    "status",
    "last_error",
    "attempts",
    "cancel_on_leave",
    "created_at",
    "updated_at",
)
_insert_actions = BulkInsert(
    action_run_t, _ACTION_COLUMNS, returning=("idempotency_key",), conflict=("idempotency_key",)
)


def _write_actions(conn: Connection, batch: Batch, now: datetime) -> int:
    if not batch.actions:
        return 0
    rows = []
    for row, a in batch.actions:
        key = a.idempotency_key
        why = a.skip or batch.duplicates.get(key)
        status = "skipped" if a.skip or key in batch.duplicates else "pending"
        rows.append(
            (
                *(key, row.id, a.journey, row.customer.id, a.stage, a.stage_entry),
                *(a.action_key, a.kind, a.template, a.variant, a.params, a.due_at),
                *(status, why, 0, a.cancel_on_leave, now, now),
            )
        )
    landed = {key for (key,) in _insert_actions.run(conn, rows)}
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
