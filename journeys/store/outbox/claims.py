"""The outbox, store side: claim due actions, recover expired leases, mark sends as started.

Outcomes are recorded by `outcomes.record_outcomes`, under the same claim ids.

An action runs through `pending → claimed → sent | failed | skipped | unknown`; a
deferral or a retryable failure puts it back to `pending` with a later `due_at`.

Claims. `claim_due` takes up to `limit` pending actions that are due, oldest first,
for a lease, under a claim id (`claimed_by`) that is new for every call. On SQLite it
is one `UPDATE … WHERE id IN (SELECT … LIMIT) RETURNING` in the writer transaction,
whose `BEGIN IMMEDIATE` serialises claimers; on PostgreSQL `SELECT … FOR UPDATE SKIP
LOCKED` and then an UPDATE, so parallel dispatchers take disjoint rows without waiting.
Every write after the claim names the claim id: an outcome reaches only the rows the
claim still holds, never those another dispatcher has taken over. A dispatcher renews
its claim's lease as it works through a batch (`renew_lease`), so a lease can be sized
to a chunk, not to a batch, and a crashed dispatcher's claims come back within it.

Attempts count sends, not claims. `mark_send_started` counts an attempt for every
message about to leave; a retry without a send (the send rules raised) counts one
too. A claim counts nothing: a dispatcher that dies while an action waits in its batch
costs the action time, never one of the retries meant for the provider's refusals.

Crash safety: exactly once up to the provider. Right before requests leave, the
dispatcher commits `send_started_at` for them (`mark_send_started`, which also renews
the lease). When a lease expires, the next claim looks at that mark: without it, no
request can have left, so the action is simply pending again and will be sent once;
with it, the provider may already have the message, so the action becomes `unknown`,
is reported, and is never resent automatically (a provider's report about it settles
it as `sent`; an operator may release it, see `outbox_review`). If the slow dispatcher
does come back with the outcome after all, it still resolves that `unknown` (same
claim id). The one exception is a channel that is idempotent by key, where a second
send of a message that did arrive only reports it (the outbox folder): `retry_unknown`
makes such actions pending again, so that what a crash cut short is sent after all.

Poison messages. A dispatcher commits `preparing_since` for the few actions it is
about to decide and render (`mark_preparing`, a window of one chunk, in the
transaction it writes anyway); the rest of its batch only waits. When its lease
expires, only the actions of that window count a crash (`crashes`); the waiting ones
lose nothing but time. A window still holds several actions, so one crash proves
nothing about any of them: an action with a crash is claimed alone from then on
(`claim_due(suspects=True)`), and only if dispatchers keep dying while they prepare it
alone, `ISOLATED_CRASHES` times, is that the evidence: it is `quarantined`, reported,
and sent again only when an operator releases it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Integer, Select, bindparam, select, update
from sqlmodel import Session

from ..sql import chunks, connection_of
from ..tables import action_run_t
from .claimed import (
    DEFAULT_MAX_ATTEMPTS,
    OUTCOME_STATUSES,
    ActionOutcome,
    AddressConsent,
    ClaimedAction,
    ClaimedCustomer,
    ClaimedPromo,
    OutcomeStatus,
    Recorded,
    Recovered,
)
from .load import load_claimed

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ISOLATED_CRASHES",
    "LOST_SEND",
    "OUTCOME_STATUSES",
    "QUARANTINED",
    "SUSPECT_CRASHES",
    "ActionOutcome",
    "AddressConsent",
    "ClaimedAction",
    "ClaimedCustomer",
    "ClaimedPromo",
    "OutcomeStatus",
    "Recorded",
    "Recovered",
    "claim_due",
    "claim_params",
    "claim_statement",
    "mark_preparing",
    "mark_send_started",
    "recover_expired",
    "renew_lease",
]

LOST_SEND = "lease expired after the send started; the provider may have the message"
# Crashes before an action is claimed alone, and crashes while alone before quarantine.
SUSPECT_CRASHES = 1
ISOLATED_CRASHES = 3
QUARANTINED = (
    f"{ISOLATED_CRASHES} dispatchers died holding this action alone before its send "
    "started; released only by an operator (journeyflow messages release)"
)

_a = action_run_t
log = logging.getLogger(__name__)


# --- claiming ------------------------------------------------------------------------------


def _claim_id(worker: str) -> str:
    # Unique per call: a worker that claims twice must not answer for its older claim.
    return f"{worker[:47]}/{secrets.token_hex(8)}"


def _due(suspects: bool) -> Select[tuple[int]]:
    # Suspects (caught in crashes) are claimed only alone, the others only in batches.
    crashed = _a.c.crashes >= SUSPECT_CRASHES if suspects else _a.c.crashes < SUSPECT_CRASHES
    return (
        select(_a.c.id)
        .where(_a.c.status == "pending", _a.c.due_at <= bindparam("_now"), crashed)
        # The index's order (status, due_at, crashes, rowid): no sort step.
        .order_by(_a.c.due_at, _a.c.crashes, _a.c.id)
        .limit(bindparam("_limit", type_=Integer))
    )


def _claimed_values() -> dict[str, Any]:
    return {
        "status": "claimed",
        "claimed_by": bindparam("_claim"),
        "lease_expires_at": bindparam("_until"),
        "send_started_at": None,
        # An action claimed alone is in hand at once: it is its own window.
        "preparing_since": bindparam("_preparing"),
        "updated_at": bindparam("_now"),
    }


# Built once, as every hot statement of the store: a dispatcher claims every minute.
# SQLite: one UPDATE over the oldest due rows, returning their ids.
_CLAIM = {
    suspects: update(_a)
    .where(_a.c.id.in_(_due(suspects).scalar_subquery()))
    .values(_claimed_values())
    .returning(_a.c.id)
    for suspects in (False, True)
}
# PostgreSQL: the due rows locked (skipping those another dispatcher holds), then updated.
_LOCK_DUE = {
    suspects: _due(suspects).with_for_update(skip_locked=True) for suspects in (False, True)
}
_CLAIM_IDS = (
    update(_a)
    .where(_a.c.id.in_(bindparam("_ids", expanding=True)))
    .values(_claimed_values())
    .returning(_a.c.id)
)


def claim_statement(suspects: bool = False) -> Any:
    """SQLite's claim (built once): one UPDATE over the oldest due rows, returning their
    ids; its parameters are `claim_params`."""
    return _CLAIM[suspects]


def claim_params(
    now: datetime, limit: int, lease: timedelta, claim: str, suspects: bool = False
) -> dict[str, Any]:
    """The parameters of a claim at `now` of up to `limit` actions (one if `suspects`)."""
    return {
        "_now": now,
        "_limit": 1 if suspects else limit,
        "_claim": claim,
        "_until": now + lease,
        "_preparing": now if suspects else None,
    }


def claim_due(
    session: Session,
    now: datetime,
    limit: int,
    lease: timedelta,
    worker: str,
    *,
    recover: bool = True,
    suspects: bool = False,
) -> list[ClaimedAction]:
    """Claim up to `limit` due pending actions, oldest first, for `lease`.

    First, unless `recover=False` (the caller ran `recover_expired` itself), expired
    leases are recovered as the module docstring describes. With `suspects`, one action
    that was caught in crashes, alone (see the module docstring); without, none of them.
    """
    if limit <= 0:
        return []
    conn = session.connection()
    if recover:
        recover_expired(session, now)
    claim = _claim_id(worker)
    params = claim_params(now, limit, lease, claim, suspects)
    if conn.dialect.name == "postgresql":
        ids = list(conn.execute(_LOCK_DUE[suspects], params).scalars())
        if not ids:
            return []
        claimed = list(conn.execute(_CLAIM_IDS, {**params, "_ids": ids}).scalars())
    else:
        claimed = list(conn.execute(_CLAIM[suspects], params).scalars())
    return load_claimed(conn, claimed, claim)


def recover_expired(session: Session | Connection, now: datetime) -> Recovered:
    """Release claims whose lease expired: pending again, or `unknown` if a send started.

    An action released without a send counts a crash; one that crashed its dispatchers
    alone `ISOLATED_CRASHES` times is quarantined (see the module docstring).
    """
    conn = connection_of(session)
    expired = select(_a.c.id, _a.c.send_started_at, _a.c.preparing_since, _a.c.crashes).where(
        _a.c.status == "claimed", _a.c.lease_expires_at <= now
    )
    if conn.dialect.name == "postgresql":
        # Locked in one statement, skipping rows a concurrent recovery holds: two
        # recoveries updating the same rows in different orders could deadlock.
        expired = expired.with_for_update(skip_locked=True)
    rows = conn.execute(expired).all()
    limit = SUSPECT_CRASHES + ISOLATED_CRASHES
    lost = [r.id for r in rows if r.send_started_at is not None]
    unsent = [r for r in rows if r.send_started_at is None]
    # Only what was in hand (being decided or rendered) when the dispatcher died counts.
    in_hand = [r for r in unsent if r.preparing_since is not None]
    poison = [r.id for r in in_hand if r.crashes + 1 >= limit]
    blamed = [r.id for r in in_hand if r.crashes + 1 < limit]
    waited = [r.id for r in unsent if r.preparing_since is None]
    done = {"lease_expires_at": None, "preparing_since": None, "updated_at": now}
    # `claimed_by` stays on an unknown action: its own dispatcher may still report back.
    _update_ids(conn, lost, {**done, "status": "unknown", "last_error": LOST_SEND})
    crashed = {**done, "claimed_by": None, "crashes": _a.c.crashes + 1}
    _update_ids(conn, poison, {**crashed, "status": "quarantined", "last_error": QUARANTINED})
    _update_ids(conn, blamed, {**crashed, "status": "pending"})
    _update_ids(conn, waited, {**done, "claimed_by": None, "status": "pending"})
    again = blamed + waited
    if poison:
        log.error("quarantined %d action(s) that crashed dispatchers: %s", len(poison), poison)
    return Recovered(pending=len(again), unknown=len(lost), quarantined=len(poison))


def _update_ids(conn: Connection, ids: Sequence[int], values: Mapping[str, Any]) -> None:
    for part in chunks(ids):
        conn.execute(update(_a).where(_a.c.id.in_(part)).values(dict(values)))


# --- sending ---------------------------------------------------------------------


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
        attempts=_a.c.attempts + 1,
        updated_at=bindparam("_now"),
    )
    .returning(_a.c.id)
)
_renew = (
    update(_a)
    .where(
        _a.c.status == "claimed",
        _a.c.claimed_by == bindparam("_claim"),
        _a.c.lease_expires_at > bindparam("_now"),
    )
    .values(lease_expires_at=bindparam("_until"))
)


_preparing = (
    update(_a)
    .where(
        _a.c.id.in_(bindparam("_ids", expanding=True)),
        _a.c.status == "claimed",
        _a.c.claimed_by == bindparam("_claim"),
    )
    .values(preparing_since=bindparam("_now"))
)


def mark_preparing(db: Session | Connection, claim: str, ids: Sequence[int], now: datetime) -> None:
    """Commit (with the transaction) that these actions are about to be decided and
    rendered: if the dispatcher dies before their sends start, they count a crash."""
    conn = connection_of(db)
    for part in chunks(sorted(ids)):
        conn.execute(_preparing, {"_ids": list(part), "_claim": claim, "_now": now})


def renew_lease(db: Session | Connection, claim: str, now: datetime, lease: timedelta) -> int:
    """Extend the lease of every action `claim` still holds to `now + lease`; how many.

    An action whose lease already ran out is not renewed: another dispatcher may hold
    it by now, and `mark_send_started` will not mark it for this claim.
    """
    params = {"_claim": claim, "_now": now, "_until": now + lease}
    return int(connection_of(db).execute(_renew, params).rowcount)


def mark_send_started(
    session: Session | Connection, actions: Iterable[ClaimedAction], now: datetime, lease: timedelta
) -> set[int]:
    """Commit (with the transaction) that these sends are about to leave; returns the ids marked.

    Only actions whose claim still holds with a lease not yet expired are marked, and
    their lease is renewed for the sending; send nothing that is not in the result.
    Each marked action counts an attempt.
    """
    by_claim: dict[str, list[int]] = {}
    for action in actions:
        by_claim.setdefault(action.claim, []).append(action.id)
    conn = connection_of(session)
    marked: set[int] = set()
    for claim, ids in by_claim.items():
        for part in chunks(sorted(ids)):
            params = {"_ids": list(part), "_claim": claim, "_now": now, "_until": now + lease}
            marked.update(conn.execute(_mark_started, params).scalars())
    return marked
