"""The outbox, store side: record what became of the sends a claim held.

`sent`, `failed`, `skipped` and `unknown` are final; `deferred` and `retry` make the
action pending again at a later `due_at`. Every write names the claim: an outcome
reaches only the rows its claim still holds, never those another dispatcher has taken
over since (see `claims` for the protocol). A provider's refusal that concerns an
address (an SMS STOP, a hard bounce) is applied to consent with the outcome, in the
same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, bindparam, case, select, update
from sqlmodel import Session

from ..feedback.message_events import customers_by_email, customers_by_phone
from ..people.consent import record_consent
from ..sql import chunks, connection_of
from ..tables import action_run_t
from .claimed import ActionOutcome, AddressConsent, Recorded

__all__ = ["record_outcomes"]

_a = action_run_t

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
        # A send counted its attempt when it was marked; a retry without a send (the
        # send rules raised) counts one here. A deferral is no attempt.
        attempts=_a.c.attempts
        + case((_a.c.send_started_at.is_(None), bindparam("_unsent_attempt")), else_=0),
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
    action pending again at their `due_at` (a retry is an attempt, a deferral not).
    An `unknown` left by an expired lease is still resolved by the claim that caused it.
    """
    given = {o.action_id: o for o in outcomes}
    result = Recorded()
    if not given:
        return result
    conn = connection_of(session)
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
                    "_unsent_attempt": 1 if o.status == "retry" else 0,
                    "_now": now,
                }
            )
    if final:
        conn.execute(_record_final, final)
    if again:
        conn.execute(_record_again, again)
    for change in (given[id].consent for id in sorted(held)):
        if change is not None:
            _apply_refusal(conn, change, now)
    return result


def _apply_refusal(conn: Connection, change: AddressConsent, now: datetime) -> None:
    # Address-level, like a provider's report: every customer with the number or address.
    find = customers_by_phone if change.channel == "sms" else customers_by_email
    for customer in find(conn, change.address):
        record_consent(
            conn, customer.id, change.channel, change.status, change.source, now,
            keep_suppressed=True,
        )  # fmt: skip
