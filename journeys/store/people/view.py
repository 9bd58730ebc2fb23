"""One customer as a document: what the people API shows, and the GDPR export.

`customer_view` is what support looks at (profile, consent with history, enrollments
with their stage history, messages with outcome and delivery, promo codes, survey
answers). `customer_export` adds every other stored fact about the person (the events
received about them, every provider report, operators' releases of their messages):
Art. 15 and 20 GDPR, one machine-readable document.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, select

from ..sql import chunks, connection_of
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
    stage_transition_t,
    survey_response_t,
)

EXPORT_FORMAT = "journeyflow.customer-export/1"


def customer_view(db: Any, external_id: str) -> dict[str, Any] | None:
    """The customer `external_id` as a JSON-ready document; None when unknown."""
    conn = connection_of(db)
    row = conn.execute(select(customer_t).where(customer_t.c.external_id == external_id)).first()
    if row is None:
        return None
    customer = _plain(row._mapping)
    cid = customer["id"]
    consent = {r["channel"]: {**r, "history": []} for r in _rows(conn, consent_t, cid)}
    for change in _rows(conn, consent_change_t, cid, order="at"):
        consent.setdefault(change["channel"], {"status": None, "history": []})
        consent[change["channel"]]["history"].append(change)
    transitions: dict[int, list[dict[str, Any]]] = {}
    for t in _rows(conn, stage_transition_t, cid, order="at"):
        transitions.setdefault(t["enrollment_id"], []).append(t)
    enrollments = [
        {**e, "history": transitions.get(e["id"], [])}
        for e in _rows(conn, enrollment_t, cid, order="entered_at")
    ]
    messages = _rows(conn, action_run_t, cid, order="due_at")
    events = _by_action(conn, message_event_t, [m["id"] for m in messages])
    for message in messages:
        message["provider_events"] = events.get(message["id"], [])
    return {
        "customer": customer,
        "consent": consent,
        "enrollments": enrollments,
        "messages": messages,
        "promo_codes": _rows(conn, promo_code_t, cid),
        "survey_answers": _rows(conn, survey_response_t, cid, order="at"),
    }


def customer_export(db: Any, external_id: str, now: datetime) -> dict[str, Any] | None:
    """Every stored fact about the customer; None when unknown."""
    conn = connection_of(db)
    view = customer_view(conn, external_id)
    if view is None:
        return None
    releases = _by_action(conn, action_release_t, [m["id"] for m in view["messages"]])
    for message in view["messages"]:
        message["releases"] = releases.get(message["id"], [])
    received = conn.execute(
        select(inbound_event_t)
        .where(inbound_event_t.c.customer_id == external_id)
        .order_by(inbound_event_t.c.occurred_at, inbound_event_t.c.id)
    )
    return {
        "format": EXPORT_FORMAT,
        "exported_at": now.isoformat(),
        **view,
        "events_received": [_plain(r._mapping) for r in received],
    }


def _rows(
    conn: Connection, table: Table, customer_id: int, order: str = "id"
) -> list[dict[str, Any]]:
    query = (
        select(table).where(table.c.customer_id == customer_id).order_by(table.c[order], table.c.id)
    )
    return [_plain(r._mapping) for r in conn.execute(query)]


def _by_action(
    conn: Connection, table: Table, ids: Iterable[int]
) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = {}
    for part in chunks(sorted(set(ids))):
        query = select(table).where(table.c.action_run_id.in_(part)).order_by(table.c.id)
        for r in conn.execute(query):
            row = _plain(r._mapping)
            found.setdefault(row["action_run_id"], []).append(row)
    return found


def _plain(mapping: Any) -> dict[str, Any]:
    return {str(k): v.isoformat() if isinstance(v, datetime) else v for k, v in mapping.items()}
