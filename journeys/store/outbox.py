"""The outbox, store side: claim due actions, mark sends as started, record outcomes.

An action runs through `pending → claimed → sent | failed | skipped | unknown`; a
deferral or a retryable failure puts it back to `pending` with a later `due_at`.

Claims. `claim_due` takes up to `limit` pending actions that are due, oldest first,
for a lease, under a claim id (`claimed_by`) that is new for every call. On SQLite it
is one `UPDATE … WHERE id IN (SELECT … LIMIT) RETURNING` in the writer transaction,
whose `BEGIN IMMEDIATE` serialises claimers; on PostgreSQL `SELECT … FOR UPDATE SKIP
LOCKED` and then an UPDATE, so parallel dispatchers take disjoint rows without waiting.
Every write after the claim names the claim id: an outcome reaches only the rows the
claim still holds, never those another dispatcher has taken over.

Crash safety: exactly once up to the provider. Right before requests leave, the
dispatcher commits `send_started_at` for them (`mark_send_started`, which also renews
the lease). When a lease expires, the next claim looks at that mark: without it, no
request can have left, so the action is simply pending again and will be sent once;
with it, the provider may already have the message, so the action becomes `unknown`,
is reported, and is never resent automatically. If the slow dispatcher does come back
with the outcome after all, it still resolves that `unknown` (same claim id). The one
exception is a channel that is idempotent by key, where a second send of a message
that did arrive only reports it (the outbox folder): `retry_unknown` makes such
actions pending again, so that what a crash cut short is sent after all.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, bindparam, func, select, update
from sqlmodel import Session

from .outbox_load import load_claimed
from .outbox_types import (
    OUTCOME_STATUSES,
    ActionOutcome,
    ClaimedAction,
    ClaimedCustomer,
    ClaimedPromo,
    OutboxCount,
    OutcomeStatus,
    Recorded,
    Recovered,
)
from .sql import chunks
from .tables import action_run_t

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "LOST_SEND",
    "OUTCOME_STATUSES",
    "RETRIED_UNKNOWN",
    "ActionOutcome",
    "ClaimedAction",
    "ClaimedCustomer",
    "ClaimedPromo",
    "OutboxCount",
    "OutcomeStatus",
    "Recorded",
    "Recovered",
    "claim_due",
    "claim_statement",
    "mark_send_started",
    "outbox_summary",
    "record_outcomes",
    "recover_expired",
    "retry_unknown",
]

DEFAULT_MAX_ATTEMPTS = 5
LOST_SEND = "lease expired after the send started; the provider may have the message"

_a = action_run_t


# --- claiming ------------------------------------------------------------------------------


def _claim_id(worker: str) -> str:
    # Unique per call: a worker that claims twice must not answer for its older claim.
    return f"{worker[:47]}/{secrets.token_hex(8)}"


def _due(now: datetime, limit: int) -> Select[tuple[int]]:
    return (
        select(_a.c.id)
        .where(_a.c.status == "pending", _a.c.due_at <= now)
        .order_by(_a.c.due_at, _a.c.id)
        .limit(limit)
    )


def claim_statement(now: datetime, limit: int, lease: timedelta, claim: str) -> Any:
    """SQLite's claim: one UPDATE over the oldest due rows, returning their ids."""
    return (
        update(_a)
        .where(_a.c.id.in_(_due(now, limit).scalar_subquery()))
        .values(_claim_values(now, lease, claim))
        .returning(_a.c.id)
    )


def _claim_values(now: datetime, lease: timedelta, claim: str) -> dict[str, Any]:
    return {
        "status": "claimed",
        "claimed_by": claim,
        "lease_expires_at": now + lease,
        "attempts": _a.c.attempts + 1,
        "send_started_at": None,
        "updated_at": now,
    }


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    lease: timedelta,
    worker: str,
    *,
    recover: bool = True,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> list[ClaimedAction]:
    """Claim up to `limit` due pending actions, oldest first, for `lease`.

    First, unless `recover=False` (the caller ran `recover_expired` itself), expired
    leases are recovered as the module docstring describes.
    """
    if limit <= 0:
        return []
    conn = session.connection()
    if recover:
        recover_expired(session, now, max_attempts=max_attempts)
    claim = _claim_id(worker)
    if conn.dialect.name == "postgresql":
        ids = list(conn.execute(_due(now, limit).with_for_update(skip_locked=True)).scalars())
        if not ids:
            return []
        statement = (
            update(_a)
            .where(_a.c.id.in_(ids))
            .values(_claim_values(now, lease, claim))
            .returning(_a.c.id)
        )
        claimed = list(conn.execute(statement).scalars())
    else:
        claimed = list(conn.execute(claim_statement(now, limit, lease, claim)).scalars())
    return load_claimed(conn, claimed, claim)


def recover_expired(
    session: Session, now: datetime, *, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> Recovered:
    """Release claims whose lease expired: pending again, or `unknown` if a send started."""
    conn = session.connection()
    expired = select(_a.c.id, _a.c.send_started_at, _a.c.attempts).where(
        _a.c.status == "claimed", _a.c.lease_expires_at <= now
    )
    if conn.dialect.name == "postgresql":
        # Locked in one statement, skipping rows a concurrent recovery holds: two
        # recoveries updating the same rows in different orders could deadlock.
        expired = expired.with_for_update(skip_locked=True)
    rows = conn.execute(expired).all()
    lost = [r.id for r in rows if r.send_started_at is not None]
    spent = [r.id for r in rows if r.send_started_at is None and r.attempts >= max_attempts]
    again = [r.id for r in rows if r.send_started_at is None and r.attempts < max_attempts]
    done = {"lease_expires_at": None, "updated_at": now}
    # `claimed_by` stays on an unknown action: its own dispatcher may still report back.
    _update_ids(conn, lost, {**done, "status": "unknown", "last_error": LOST_SEND})
    reason = f"the lease expired {max_attempts} times before a send started"
    _update_ids(conn, spent, {**done, "status": "failed", "last_error": reason})
    _update_ids(conn, again, {**done, "status": "pending", "claimed_by": None})
    return Recovered(pending=len(again), unknown=len(lost), failed=len(spent))


RETRIED_UNKNOWN = "outcome unknown; the channel is idempotent by key: sent again"


def retry_unknown(
    session: Session | Connection,
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
    return _connection(session).execute(statement).rowcount


def _update_ids(conn: Connection, ids: Sequence[int], values: Mapping[str, Any]) -> None:
    for part in chunks(ids):
        conn.execute(update(_a).where(_a.c.id.in_(part)).values(dict(values)))


# --- sending and outcomes ------------------------------------------------------------------


# Built once: each execution reuses the compiled form instead of rebuilding it per chunk.
_mark_started = (
    update(_a)
    .where(
        _a.c.id.in_(bindparam("_ids", expanding=True)),
        _a.c.status == "claimed",
        _a.c.claimed_by == bindparam("_claim"),
        _a.c.lease_expires_at > bindparam("_now"),
    )
    .values(
        send_started_at=bindparam("_now"),
        lease_expires_at=bindparam("_until"),
        updated_at=bindparam("_now"),
    )
    .returning(_a.c.id)
)


def _connection(db: Session | Connection) -> Connection:
    return db if isinstance(db, Connection) else db.connection()


def mark_send_started(
    session: Session | Connection, actions: Iterable[ClaimedAction], now: datetime, lease: timedelta
) -> set[int]:
    """Commit (with the transaction) that these sends are about to leave; returns the ids marked.

    Only actions whose claim still holds with a lease not yet expired are marked, and
    their lease is renewed for the sending; send nothing that is not in the result.
    """
    by_claim: dict[str, list[int]] = {}
    for action in actions:
        by_claim.setdefault(action.claim, []).append(action.id)
    conn = _connection(session)
    marked: set[int] = set()
    for claim, ids in by_claim.items():
        for part in chunks(sorted(ids)):
            params = {"_ids": list(part), "_claim": claim, "_now": now, "_until": now + lease}
            marked.update(conn.execute(_mark_started, params).scalars())
    return marked


_FINAL = frozenset({"sent", "failed", "unknown", "skipped"})

_record_final = (
    update(_a)
    .where(_a.c.id == bindparam("_id"))
    .values(
        status=bindparam("_status"),
        last_error=bindparam("_reason"),
        provider_message_id=bindparam("_provider_id"),
        lease_expires_at=None,
        updated_at=bindparam("_now"),
    )
)
_record_again = (
    update(_a)
    .where(_a.c.id == bindparam("_id"))
    .values(
        status="pending",
        due_at=bindparam("_due_at"),
        last_error=bindparam("_reason"),
        # A deferral is no attempt: it must not use up the retries of a failing provider.
        attempts=_a.c.attempts - bindparam("_unclaim"),
        lease_expires_at=None,
        claimed_by=None,
        send_started_at=None,
        updated_at=bindparam("_now"),
    )
)


_holders = (
    select(_a.c.id, _a.c.claimed_by, _a.c.status)
    .where(_a.c.id.in_(bindparam("_ids", expanding=True)))
    .order_by(_a.c.id)  # one lock order for every writer
)
_holders_locked = _holders.with_for_update()


def record_outcomes(
    session: Session | Connection, outcomes: Iterable[ActionOutcome], now: datetime
) -> Recorded:
    """Write outcomes in bulk, each only where its claim still holds the action.

    `sent`, `failed`, `skipped` and `unknown` are final; `deferred` and `retry` make the
    action pending again at their `due_at` (a retry keeps its attempt, a deferral not).
    An `unknown` left by an expired lease is still resolved by the claim that caused it.
    """
    given = {o.action_id: o for o in outcomes}
    result = Recorded()
    if not given:
        return result
    conn = _connection(session)
    held: set[int] = set()
    query = _holders_locked if conn.dialect.name == "postgresql" else _holders
    for part in chunks(sorted(given)):
        for id, claimed_by, status in conn.execute(query, {"_ids": list(part)}):
            outcome = given[id]
            if claimed_by == outcome.claim and (
                status == "claimed" or (status == "unknown" and outcome.status in _FINAL)
            ):
                held.add(id)
    result.stale = sorted(set(given) - held)
    final, again = [], []
    for id in sorted(held):
        o = given[id]
        result.written[o.status] = result.written.get(o.status, 0) + 1
        if o.status in _FINAL:
            final.append(
                {
                    "_id": id,
                    "_status": o.status,
                    "_reason": o.reason,
                    "_provider_id": o.provider_message_id,
                    "_now": now,
                }
            )
        else:
            again.append(
                {
                    "_id": id,
                    "_due_at": o.due_at,
                    "_reason": o.reason,
                    "_unclaim": 1 if o.status == "deferred" else 0,
                    "_now": now,
                }
            )
    if final:
        conn.execute(_record_final, final)
    if again:
        conn.execute(_record_again, again)
    return result


# --- reports -------------------------------------------------------------------------------


def outbox_summary(session: Session) -> list[OutboxCount]:
    """Actions per journey, kind and status."""
    query = (
        select(_a.c.journey, _a.c.kind, _a.c.status, func.count())
        .group_by(_a.c.journey, _a.c.kind, _a.c.status)
        .order_by(_a.c.journey, _a.c.kind, _a.c.status)
    )
    return [OutboxCount(j, k, s, int(n)) for j, k, s, n in session.connection().execute(query)]
