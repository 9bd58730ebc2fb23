"""Loading what rendering needs for claimed actions: customer, version, promo code, event."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, or_, select

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


_c, _e, _p = customer_t, enrollment_t, promo_code_t
# Built once: every claim loads its actions.
_claimed = (
    select(*_ACTION_COLUMNS)
    .add_columns(_c.c.external_id, _c.c.email, _c.c.phone, _c.c.first_name, _c.c.last_name)
    .add_columns(_c.c.locale, _c.c.timezone, _c.c.country, _c.c.attributes, _e.c.version)
    .add_columns(_p.c.code, _p.c.discount, _p.c.expires_at.label("promo_expires_at"))
    .join(_c, _c.c.id == _a.c.customer_id)
    .join(_e, _e.c.id == _a.c.enrollment_id)
    .outerjoin(_p, _p.c.action_idempotency_key == _a.c.idempotency_key)
    .where(_a.c.id.in_(bindparam("ids", expanding=True)))
)


def load_claimed(conn: Connection, ids: Sequence[int], claim: str) -> list[ClaimedAction]:
    """The claimed actions with these ids, oldest due first: one query per chunk of ids."""
    rows: list[Any] = []
    for part in chunks(sorted(ids)):
        rows.extend(conn.execute(_claimed, {"ids": list(part)}))
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


_t = stage_transition_t
_history = select(_t.c.enrollment_id, _t.c.stage_entry, _t.c.to_stage, _t.c.cause).where(
    _t.c.enrollment_id.in_(bindparam("ids", expanding=True)),
    or_(_t.c.cause.like("event:%"), *(_t.c.cause.like(f"{w}%") for w in _WAITS)),
)

_i = inbound_event_t
_inbound = select(_i.c.source, _i.c.external_id, _i.c.type, _i.c.occurred_at, _i.c.payload).where(
    _i.c.source == bindparam("source"), _i.c.external_id.in_(bindparam("ids", expanding=True))
)


def _events(
    conn: Connection, entries: Iterable[tuple[int, int, str]]
) -> dict[tuple[int, int], dict[str, Any]]:
    """The inbound event behind each stage entry: the event that caused it, or for an
    entry by an `after` / `no_event_for` timer, the one behind the entry it waited in."""
    wanted = {(enrollment, entry): stage for enrollment, entry, stage in entries}
    if not wanted:
        return {}
    history: dict[tuple[int, int], tuple[str, str]] = {}  # (enrollment, entry) -> stage, cause
    for part in chunks(sorted({enrollment for enrollment, _ in wanted})):
        for enrollment, entry, stage, cause in conn.execute(_history, {"ids": list(part)}):
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
    rows: list[Any] = []
    by_source: dict[str, list[str]] = {}
    for source, external_id in sorted(causes):
        by_source.setdefault(source, []).append(external_id)
    # One source at a time: SQLite reads `(source, external_id) IN (VALUES ...)` by
    # scanning the whole unique index, `source = ? AND external_id IN (...)` through it.
    for source, ids in by_source.items():
        for some in chunks(ids):
            rows.extend(conn.execute(_inbound, {"source": source, "ids": list(some)}))
    for source, external_id, type_, occurred_at, payload in rows:
        data = dict(payload or {})
        event = {**data, "type": type_, "occurred_at": occurred_at, "data": data}
        for key in causes[(source, external_id)]:
            found[key] = event
    return found
