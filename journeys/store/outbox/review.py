"""The outbox, an operator's side: what is held back, releasing it, and counts.

Two kinds of action wait for a person rather than a dispatcher:
- `unknown`: a request left and no answer came. It is never resent automatically (the
  customer may have it); a provider's report about it settles it as `sent`. What is
  still unknown after a window is listed, and an operator who has checked with the
  provider may release it for one more send.
- `quarantined`: dispatchers kept dying while they held it alone (see `outbox`).

A release is an explicit decision, recorded in `action_release` (who, when, why, and
what the action was) in the same transaction that makes the action pending again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, update
from sqlmodel import Session

from ..sql import chunks, connection_of
from ..tables import action_release_t, action_run_t, customer_t
from .claimed import DEFAULT_MAX_ATTEMPTS, OutboxCount

__all__ = [
    "HELD_STATUSES",
    "RETRIED_UNKNOWN",
    "HeldAction",
    "held_actions",
    "outbox_summary",
    "release_actions",
    "retry_unknown",
]

HELD_STATUSES = ("unknown", "quarantined")
RETRIED_UNKNOWN = "outcome unknown; the channel is idempotent by key: sent again"

_a = action_run_t


@dataclass(frozen=True, slots=True)
class HeldAction:
    id: int
    idempotency_key: str
    journey: str
    kind: str
    template: str | None
    customer: str  # the customer's external id
    status: str
    since: datetime  # when the send started (unknown) or the action was held back
    attempts: int
    crashes: int
    last_error: str | None


def held_actions(
    db: Session | Connection,
    status: str,
    *,
    before: datetime | None = None,
    limit: int = 1000,
) -> list[HeldAction]:
    """Actions in `status` (unknown or quarantined) held since before `before`, oldest first."""
    if status not in HELD_STATUSES:
        raise ValueError(f"'{status}' is not held back; choose one of {', '.join(HELD_STATUSES)}")
    since = func.coalesce(_a.c.send_started_at, _a.c.updated_at)
    query = (
        select(
            _a.c.id,
            _a.c.idempotency_key,
            _a.c.journey,
            _a.c.kind,
            _a.c.template,
            customer_t.c.external_id,
            _a.c.status,
            since.label("since"),
            _a.c.attempts,
            _a.c.crashes,
            _a.c.last_error,
        )
        .join(customer_t, customer_t.c.id == _a.c.customer_id)
        .where(_a.c.status == status)
        .order_by(since, _a.c.id)
        .limit(limit)
    )
    if before is not None:
        query = query.where(since <= before)
    return [HeldAction(*row) for row in connection_of(db).execute(query)]


def release_actions(
    db: Session | Connection,
    ids: Sequence[int],
    *,
    operator: str,
    reason: str,
    now: datetime,
) -> list[int]:
    """Make these unknown or quarantined actions pending again, due now; the ids released.

    Ids in any other status are left alone (and not in the result). Each release is
    recorded with the operator, the reason and what the action was.
    """
    if not operator.strip() or not reason.strip():
        raise ValueError("a release needs the operator's name and a reason")
    conn = connection_of(db)
    released: list[int] = []
    for part in chunks(sorted(set(ids))):
        query = select(_a.c.id, _a.c.status, _a.c.last_error).where(
            _a.c.id.in_(part), _a.c.status.in_(HELD_STATUSES)
        )
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        rows = conn.execute(query).all()
        if not rows:
            continue
        records: list[dict[str, Any]] = [
            {
                "action_run_id": r.id,
                "at": now,
                "operator": operator[:128],
                "reason": reason,
                "from_status": r.status,
                "last_error": r.last_error,
            }
            for r in rows
        ]
        conn.execute(action_release_t.insert(), records)
        conn.execute(
            update(_a)
            .where(_a.c.id.in_([r.id for r in rows]), _a.c.status.in_(HELD_STATUSES))
            .values(
                status="pending",
                due_at=now,
                claimed_by=None,
                lease_expires_at=None,
                send_started_at=None,
                crashes=0,
                last_error=f"released by {operator[:64]}: {reason[:200]}",
                updated_at=now,
            )
        )
        released.extend(r.id for r in rows)
    return sorted(released)


def retry_unknown(
    db: Session | Connection,
    kinds: Sequence[str],
    now: datetime,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> int:
    """Make `unknown` actions of these kinds pending again, due now; how many.

    Only for kinds whose channel is idempotent by key, so that a message that did
    arrive is not delivered twice. Each such send is a new attempt: an action that
    keeps ending `unknown` stops after `max_attempts`.
    """
    if not kinds:
        return 0
    statement = (
        update(_a)
        .where(_a.c.status == "unknown", _a.c.kind.in_(list(kinds)))
        .where(_a.c.attempts < max_attempts)
        .values(
            status="pending",
            due_at=now,
            claimed_by=None,
            lease_expires_at=None,
            send_started_at=None,
            last_error=RETRIED_UNKNOWN,
            updated_at=now,
        )
    )
    return int(connection_of(db).execute(statement).rowcount)


def outbox_summary(db: Session | Connection) -> list[OutboxCount]:
    """Actions per journey, kind and status."""
    query = (
        select(_a.c.journey, _a.c.kind, _a.c.status, func.count())
        .group_by(_a.c.journey, _a.c.kind, _a.c.status)
        .order_by(_a.c.journey, _a.c.kind, _a.c.status)
    )
    return [OutboxCount(j, k, s, int(n)) for j, k, s, n in connection_of(db).execute(query)]
