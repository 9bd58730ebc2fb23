"""Loading what rendering needs for claimed actions: customer, version, promo code, event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, or_, select

from ..sql import chunks
from ..tables import (
    action_run_t,
    customer_t,
    enrollment_t,
    inbound_event_t,
    promo_code_t,
    stage_transition_t,
)
from .claimed import ClaimedAction, ClaimedCustomer, ClaimedPromo

_a = action_run_t
# Only the columns a claimed action carries: every other one (timestamps above all) would
# be converted for each row and thrown away.
_ACTION_COLUMNS = [
    _a.c[name]
    for name in (
        "id",
        "idempotency_key",
        "journey",
        "enrollment_id",
        "customer_id",
        "stage",
        "stage_entry",
        "action_key",
        "kind",
        "template",
        "variant",
        "params",
        "due_at",
        "attempts",
        "lease_expires_at",
    )
]


def load_claimed(conn: Connection, ids: Sequence[int], claim: str) -> list[ClaimedAction]:
    """The claimed actions with these ids, oldest due first: one query per chunk of ids."""
    c, e, p = customer_t, enrollment_t, promo_code_t
    rows: list[Any] = []
    for part in chunks(sorted(ids)):
        query = (
            select(*_ACTION_COLUMNS)
            .add_columns(c.c.external_id, c.c.email, c.c.phone, c.c.first_name, c.c.last_name)
            .add_columns(c.c.locale, c.c.timezone, c.c.country, c.c.attributes, e.c.version)
            .add_columns(p.c.code, p.c.discount, p.c.expires_at.label("promo_expires_at"))
            .join(c, c.c.id == _a.c.customer_id)
            .join(e, e.c.id == _a.c.enrollment_id)
            .outerjoin(p, p.c.action_idempotency_key == _a.c.idempotency_key)
            .where(_a.c.id.in_(part))
        )
        rows.extend(conn.execute(query))
    events = _events(conn, [(r.enrollment_id, r.stage_entry, r.stage) for r in rows])
    actions = [
        ClaimedAction(
            id=r.id,
            claim=claim,
            idempotency_key=r.idempotency_key,
            journey=r.journey,
            version=r.version,
            enrollment_id=r.enrollment_id,
            stage=r.stage,
            stage_entry=r.stage_entry,
            action_key=r.action_key,
            kind=r.kind,
            template=r.template,
            variant=r.variant,
            params=r.params or {},
            due_at=r.due_at,
            attempts=r.attempts,
            lease_expires_at=r.lease_expires_at,
            customer=ClaimedCustomer(
                r.customer_id,
                r.external_id,
                r.email,
                r.phone,
                r.first_name,
                r.last_name,
                r.locale,
                r.timezone,
                r.country,
                r.attributes or {},
            ),
            promo=None if r.code is None else ClaimedPromo(r.code, r.discount, r.promo_expires_at),
            event=events.get((r.enrollment_id, r.stage_entry)),
        )
        for r in rows
    ]
    return sorted(actions, key=lambda a: (a.due_at, a.id))


# An entry by one of these timers renders with the event that entered the stage the
# customer waited in (e.g. the cart a reminder is about); see journeys.model.DelayTrigger.
_WAITS = ("timer:after:", "timer:no_event_for:")


def _events(
    conn: Connection, entries: Iterable[tuple[int, int, str]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """The inbound event behind each stage entry: the event that caused it, or for an
    entry by an `after` / `no_event_for` timer, the one behind the entry it waited in."""
    wanted = {(enrollment, entry): stage for enrollment, entry, stage in entries}
    if not wanted:
        return {}
    t = stage_transition_t
    history: dict[tuple[int, int], tuple[str, str]] = {}  # (enrollment, entry) -> stage, cause
    for part in chunks(sorted({enrollment for enrollment, _ in wanted})):
        query = select(t.c.enrollment_id, t.c.stage_entry, t.c.to_stage, t.c.cause).where(
            t.c.enrollment_id.in_(part),
            or_(t.c.cause.like("event:%"), *(t.c.cause.like(f"{w}%") for w in _WAITS)),
        )
        for enrollment, entry, stage, cause in conn.execute(query):
            history[(enrollment, entry)] = (stage, cause)
    causes: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for (enrollment, entry), stage in wanted.items():
        if history.get((enrollment, entry), ("", ""))[0] != stage:
            continue
        back = entry
        cause = history[(enrollment, back)][1]
        while cause.startswith(_WAITS):  # entry numbers count up by one per enrollment
            back -= 1
            cause = history.get((enrollment, back), ("", ""))[1]
        if cause.startswith("event:"):
            # 'event:<source>:<external id>'; the external id may itself hold colons.
            source, _, external_id = cause.removeprefix("event:").partition(":")
            causes.setdefault((source, external_id), []).append((enrollment, entry))
    found: dict[tuple[int, int], dict[str, Any]] = {}
    i = inbound_event_t
    rows: list[Any] = []
    by_source: dict[str, list[str]] = {}
    for source, external_id in sorted(causes):
        by_source.setdefault(source, []).append(external_id)
    # One source at a time: SQLite reads `(source, external_id) IN (VALUES ...)` by
    # scanning the whole unique index, `source = ? AND external_id IN (...)` through it.
    for source, ids in by_source.items():
        for some in chunks(ids):
            query = select(
                i.c.source, i.c.external_id, i.c.type, i.c.occurred_at, i.c.payload
            ).where(i.c.source == source, i.c.external_id.in_(some))
            rows.extend(conn.execute(query))
    for source, external_id, type_, occurred_at, payload in rows:
        data = dict(payload or {})
        event = {**data, "type": type_, "occurred_at": occurred_at, "data": data}
        for key in causes[(source, external_id)]:
            found[key] = event
    return found
