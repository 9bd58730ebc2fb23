"""A message sent again on the customer's request: a confirmation whose link expired.

The copy is a new pending action, due at once, that the dispatcher renders like any
other (so its links are fresh). At most one copy per original message and hour: the
copy's idempotency key is derived from the original's and the hour, and the outbox's
UNIQUE key makes every further request in that hour change nothing. A copy of a copy
is allowed (its link expires too), under the same rule.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import Connection, select

from ..sql import insert
from ..tables import action_run_t

RESEND_EVERY = timedelta(hours=1)
# What a copy takes over from the original; the rest is a fresh action's.
_COPIED = (
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
)

Resent = Literal["queued", "recently", "unknown"]


def resend_key(ref: str, now: datetime) -> str:
    """The key of the copy of message `ref` requested at `now` (one per hour)."""
    window = int(now.timestamp() // RESEND_EVERY.total_seconds())
    raw = f"{ref}\x1fresend\x1f{window}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()


def resend_message(conn: Connection, ref: str, now: datetime) -> Resent:
    """Queue a copy of the message with key `ref`, due now.

    'queued' when a copy was added, 'recently' when one was already asked for within
    the hour, 'unknown' when there is no such message.
    """
    a = action_run_t
    row = conn.execute(select(*(a.c[name] for name in _COPIED)).where(a.c.idempotency_key == ref))
    original = row.mappings().first()
    if original is None:
        return "unknown"
    params = {**dict(original["params"] or {}), "resend_of": ref}
    statement = (
        insert(conn, a)
        .values(
            **{name: original[name] for name in _COPIED if name != "params"},
            params=params,
            idempotency_key=resend_key(ref, now),
            due_at=now,
            status="pending",
            attempts=0,
            cancel_on_leave=False,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(a.c.id)
    )
    return "queued" if conn.execute(statement).first() is not None else "recently"
