"""Erasing one customer (Art. 17 GDPR), in one transaction.

What goes: the profile, consent and its history, promo code assignments, survey
comments, what events and provider reports carried (inbox payloads and profiles,
message parameters, errors, provider ids and details). What stays, so that counts stay
right: an anonymous customer row (a random id, no profile) with its enrollments, stage
history (causes cut to their kind: event, timer, …), messages (status, channel,
template, times) and survey scores. Keyed hashes of the id, the addresses and numbers
go onto the erased list (`erased.py`), so a later event or import does not bring the
person back. Pending messages are cancelled first; the caller removes the outbox files
of the idempotency keys returned (files are the channels' business).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select

from ..sql import chunks, connection_of, lock_customers
from ..tables import (
    action_release_t,
    action_run_t,
    consent_change_t,
    consent_t,
    customer_t,
    enrollment_t,
    inbound_event_t,
    message_event_t,
    promo_code_t,
    segment_timer_t,
    stage_transition_t,
    survey_response_t,
)
from .erased import Identity, add_erased

ERASED_PREFIX = "erased:"


@dataclass
class Erasure:
    """What an erasure did; `message_keys` name the outbox files to delete."""

    customer_id: int
    cancelled: int = 0
    identities: int = 0
    message_keys: list[str] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)


def erase_customer(
    db: Any, external_id: str, now: datetime, key: bytes | None = None
) -> Erasure | None:
    """Erase the customer `external_id`; None when there is none."""
    conn = connection_of(db)
    lock_customers(conn, [external_id])
    row = conn.execute(
        select(customer_t).where(customer_t.c.external_id == external_id).with_for_update()
    ).first()
    if row is None:
        return None
    cid = int(row.id)
    done = Erasure(cid)
    done.cancelled = _cancel(conn, cid, now)
    identities: list[Identity] = [("external_id", external_id)]
    identities += [("email", row.email or ""), ("phone", row.phone or "")]
    identities += _profile_identities(conn, external_id)
    done.identities = add_erased(conn, identities, now, key)
    actions = conn.execute(
        select(action_run_t.c.id, action_run_t.c.idempotency_key).where(
            action_run_t.c.customer_id == cid
        )
    ).all()
    done.message_keys = sorted(k for _, k in actions)
    ids = [i for i, _ in actions]
    rows = done.rows
    anonymous = ERASED_PREFIX + secrets.token_hex(12)
    rows["consent"] = _run(conn, consent_t.delete().where(consent_t.c.customer_id == cid))
    rows["consent_change"] = _run(
        conn, consent_change_t.delete().where(consent_change_t.c.customer_id == cid)
    )
    rows["promo_code"] = _run(conn, promo_code_t.delete().where(promo_code_t.c.customer_id == cid))
    rows["segment_timer"] = _run(
        conn, segment_timer_t.delete().where(segment_timer_t.c.customer_id == cid)
    )
    rows["survey_response"] = _run(
        conn,
        survey_response_t.update()
        .where(survey_response_t.c.customer_id == cid)
        .values(comment=None),
    )
    rows["inbound_event"] = _run(
        conn,
        inbound_event_t.update()
        .where(inbound_event_t.c.customer_id == external_id)
        .values(customer_id=anonymous, payload={}, profile=None),
    )
    rows["stage_transition"] = _run(
        conn,
        stage_transition_t.update()
        .where(stage_transition_t.c.customer_id == cid)
        .values(cause=_cause_kind(conn)),
    )
    rows["action_run"] = _run(
        conn,
        action_run_t.update()
        .where(action_run_t.c.customer_id == cid)
        .values(params={}, last_error=None, provider_message_id=None),
    )
    for part in chunks(ids):
        rows["message_event"] = rows.get("message_event", 0) + _run(
            conn,
            message_event_t.update()
            .where(message_event_t.c.action_run_id.in_(part))
            .values(detail={}, provider_message_id=None),
        )
        rows["action_release"] = rows.get("action_release", 0) + _run(
            conn,
            action_release_t.update()
            .where(action_release_t.c.action_run_id.in_(part))
            .values(reason="(customer erased)", last_error=None),
        )
    conn.execute(
        customer_t.update()
        .where(customer_t.c.id == cid)
        .values(
            external_id=anonymous,
            email=None,
            phone=None,
            first_name=None,
            last_name=None,
            locale=None,
            timezone=None,
            country=None,
            attributes={},
            updated_at=now,
        )
    )
    rows["customer"] = 1
    return done


def _cancel(conn: Connection, customer_id: int, now: datetime) -> int:
    """Pending (and claimed, not yet sent) messages are skipped; enrollments end."""
    result = conn.execute(
        action_run_t.update()
        .where(
            action_run_t.c.customer_id == customer_id,
            action_run_t.c.status.in_(("pending", "claimed", "quarantined")),
            action_run_t.c.send_started_at.is_(None),
        )
        .values(
            status="skipped",
            last_error=None,
            claimed_by=None,
            lease_expires_at=None,
            updated_at=now,
        )
    )
    conn.execute(
        enrollment_t.update()
        .where(enrollment_t.c.customer_id == customer_id, enrollment_t.c.status == "active")
        .values(status="exited", ended_at=now, timer_due_at=None)
    )
    return max(result.rowcount, 0)


def _profile_identities(conn: Connection, external_id: str) -> list[Identity]:
    """Addresses and numbers events carried for the customer (an earlier address, too)."""
    found: list[Identity] = []
    query = select(inbound_event_t.c.profile).where(
        inbound_event_t.c.customer_id == external_id, inbound_event_t.c.profile.is_not(None)
    )
    for (profile,) in conn.execute(query):
        if isinstance(profile, dict):
            found += [
                (kind, profile[kind])
                for kind in ("email", "phone")
                if isinstance(profile.get(kind), str)
            ]
    return found


def _cause_kind(conn: Connection) -> Any:
    # 'event:shop:o-1001' -> 'event': the kind of cause stays for the funnel, the ids go.
    cause = stage_transition_t.c.cause
    if conn.dialect.name == "postgresql":
        return func.split_part(cause, ":", 1)
    return func.iif(
        func.instr(cause, ":") > 0, func.substr(cause, 1, func.instr(cause, ":") - 1), cause
    )


def _run(conn: Connection, statement: Any) -> int:
    return max(conn.execute(statement).rowcount, 0)
