"""Bulk writes of an import: customers and their consent, a batch of rows at a time.

One SELECT per `CHUNK` rows for what is stored, then multi-row INSERT and UPDATE
statements, in the caller's transaction. The rules are the ones every other writer
follows, not a copy of them: a customer's profile changes through `CustomerRow`
(what the event ingest uses: given fields replace, attributes merge), consent
through `consent_rules.consent_outcome` (what `record_consent` decides: never lift a
suppressed address, a change older than the current one goes into history only).

A row equal to what is stored changes nothing, not even `updated_at` or the consent
history: importing the same file again reports every row unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, bindparam, select

from .consent_rules import Verdict, consent_outcome
from .erased import ErasedCustomer, erased, erased_identity_t
from .events import PROFILE_FIELDS, CustomerProfile
from .people import ProfileError, parse_profile
from .people import _check_id as check_customer_id
from .sql import chunks, lock_customers
from .state import CustomerRow, load_customers
from .tables import consent_change_t, consent_t, customer_t

Outcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class Refused:
    """A row the store's rules refuse: the field and why (for the rejects file)."""

    field: str
    reason: str


_customer_update = (
    customer_t.update()
    .where(customer_t.c.id == bindparam("_id"))
    .values({name: bindparam(name) for name in (*PROFILE_FIELDS, "attributes", "updated_at")})
)
_consent_update = (
    consent_t.update()
    .where(consent_t.c.id == bindparam("_id"))
    .values(status=bindparam("status"), source=bindparam("source"), at=bindparam("at"))
)


def upsert_customers(
    conn: Connection, rows: Sequence[tuple[str, Mapping[str, Any]]], now: datetime
) -> list[Outcome | Refused]:
    """Create or update customers by external id; the outcome of each row, in order.

    Each row's fields are checked as `people.upsert_customer` checks them
    (`parse_profile`: a phone number read in the given country, else the stored one),
    and a row naming an erased person is refused. An external id appears at most once
    in `rows` (the caller starts a new batch rather than repeat one)."""
    ids = [external_id for external_id, _ in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("an external id twice in one batch")
    lock_customers(conn, ids)  # as the ingest does: one writer per customer at a time
    stored = load_customers(conn, ids)
    outcomes: list[Outcome | Refused] = []
    parsed: list[tuple[int, str, CustomerProfile]] = []
    for index, (external_id, fields) in enumerate(rows):
        known = stored.get(external_id)
        try:
            check_customer_id(external_id)
            profile = parse_profile(fields, known.fields.get("country") if known else None)
        except ProfileError as exc:
            outcomes.append(Refused(exc.field, str(exc).removeprefix(f"{exc.field}: ")))
            continue
        outcomes.append("unchanged")  # decided below
        parsed.append((index, external_id, profile))
    # One cheap query spares hashing every id, address and number while nobody was erased.
    anyone = conn.execute(select(erased_identity_t.c.id).limit(1)).first() is not None
    gone = erased(conn, [i for _, e, p in parsed for i in _identities(e, p)]) if anyone else set()
    new: list[CustomerRow] = []
    changed: list[CustomerRow] = []
    for index, external_id, profile in parsed:
        kinds = [kind for kind, value in _identities(external_id, profile) if (kind, value) in gone]
        if kinds:
            outcomes[index] = Refused(kinds[0], str(ErasedCustomer(kinds)))
            continue
        customer = stored.get(external_id)
        if customer is None:
            customer = stored[external_id] = CustomerRow(external_id)
            new.append(customer)
        customer.apply_profile(profile)
        if customer.id is None:
            outcomes[index] = "created"
        elif customer.changed:
            changed.append(customer)
            outcomes[index] = "updated"
    if new:
        conn.execute(customer_t.insert(), [_customer_values(c, now, created=True) for c in new])
    if changed:
        conn.execute(_customer_update, [{"_id": c.id, **_customer_values(c, now)} for c in changed])
    return outcomes


def _identities(external_id: str, profile: CustomerProfile) -> list[tuple[str, str]]:
    found = [("external_id", external_id)]
    found += [(kind, v) for kind in ("email", "phone") if (v := getattr(profile, kind))]
    return found


def _customer_values(c: CustomerRow, now: datetime, *, created: bool = False) -> dict[str, Any]:
    values: dict[str, Any] = {name: c.fields.get(name) for name in PROFILE_FIELDS}
    values["attributes"] = c.attributes
    values["updated_at"] = now
    if created:
        values["external_id"] = c.external_id
        values["created_at"] = now
    return values


@dataclass(frozen=True, slots=True)
class ConsentRow:
    customer_id: str  # the customer's external id
    channel: str
    status: str
    source: str
    at: datetime
    ip: str | None = None
    proof: tuple[tuple[str, str | None], ...] = ()  # (purpose|system|wording, value)
    confirmed: bool = False  # the source holds the double opt-in's confirmation


ConsentOutcome = Literal["created", "updated", "unchanged", "late", "kept"] | Refused
UNKNOWN_CUSTOMER = Refused("customer_id", "no customer with this id (import the customers first)")


def import_consents(conn: Connection, rows: Sequence[ConsentRow]) -> list[ConsentOutcome]:
    """Apply consent records; the outcome of each row, in order.

    `late` and `kept` leave the current state as it is and add a history row (once:
    a second import of the same record finds it there and reports `unchanged`);
    a customer the store does not know is refused. A (customer, channel) appears at most once."""
    customers = _customer_ids(conn, {r.customer_id for r in rows})
    keys = [(customers[r.customer_id], r.channel) for r in rows if r.customer_id in customers]
    if len(set(keys)) != len(keys):
        raise ValueError("a customer's channel twice in one batch")
    current = _current(conn, keys)
    verdicts: list[
        tuple[ConsentRow, int, tuple[int, str, datetime] | None, Verdict, str | None] | None
    ] = []
    for row in rows:
        customer_id = customers.get(row.customer_id)
        if customer_id is None:
            verdicts.append(None)
            continue
        now = current.get((customer_id, row.channel))
        previous, previous_at = (now[1], now[2]) if now else (None, None)
        verdict, why = consent_outcome(
            previous, previous_at, row.status, row.at, confirmed=row.confirmed
        )
        verdicts.append((row, customer_id, now, verdict, why))
    # A record that was not applied is in the history once, however often it is imported.
    seen = _in_history(conn, [(v[1], v[0]) for v in verdicts if v and v[3] in ("late", "kept")])
    outcomes: list[ConsentOutcome] = []
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for item in verdicts:
        if item is None:
            outcomes.append(UNKNOWN_CUSTOMER)
            continue
        row, customer_id, now, verdict, why = item
        key = (customer_id, row.channel, row.status, row.at)
        if verdict == "same" or key in seen:
            outcomes.append("unchanged")
            continue
        values = {"customer_id": customer_id, "channel": row.channel}
        state = {"status": row.status, "source": row.source, "at": row.at}
        if verdict == "apply" and now is None:
            inserts.append({**values, **state})
            outcomes.append("created")
        elif verdict == "apply":
            assert now is not None
            updates.append({"_id": now[0], **state})
            outcomes.append("updated")
        else:
            outcomes.append("late" if verdict == "late" else "kept")
        history.append(_history(row, values, state, now[1] if now else None, why))
    if inserts:
        conn.execute(consent_t.insert(), inserts)
    if updates:
        conn.execute(_consent_update, updates)
    if history:
        conn.execute(consent_change_t.insert(), history)
    return outcomes


def _history(
    row: ConsentRow,
    values: dict[str, Any],
    state: dict[str, Any],
    previous: str | None,
    not_applied: str | None,
) -> dict[str, Any]:
    # The detail `record_consent` writes: the IP (proof of opt-in), why not applied.
    detail = [f"ip={row.ip}"] if row.ip else []
    if not_applied:
        detail.append(f"not applied: {not_applied}")
    return {
        **values,
        **state,
        "previous_status": previous,
        "detail": "; ".join(detail) or None,
        "purpose": None,
        "system": None,
        "wording": None,
        **dict(row.proof),
    }


def _customer_ids(conn: Connection, external_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(sorted(external_ids)):
        query = select(customer_t.c.external_id, customer_t.c.id).where(
            customer_t.c.external_id.in_(part)
        )
        found.update({external_id: id for external_id, id in conn.execute(query)})
    return found


def _current(
    conn: Connection, keys: list[tuple[int, str]]
) -> dict[tuple[int, str], tuple[int, str, datetime]]:
    """(consent id, status, at) per (customer id, channel), locked for the transaction."""
    found: dict[tuple[int, str], tuple[int, str, datetime]] = {}
    c = consent_t.c
    for part in chunks(sorted({customer_id for customer_id, _ in keys})):
        query = (
            select(c.id, c.customer_id, c.channel, c.status, c.at)
            .where(c.customer_id.in_(part))
            .with_for_update()
        )
        for id, customer_id, channel, status, at in conn.execute(query):
            found[(customer_id, channel)] = (id, status, at)
    return found


def _in_history(
    conn: Connection, candidates: list[tuple[int, ConsentRow]]
) -> set[tuple[int, str, str, datetime]]:
    """Which of the (customer id, record) are in the history already."""
    found: set[tuple[int, str, str, datetime]] = set()
    h = consent_change_t.c
    for part in chunks(sorted({customer_id for customer_id, _ in candidates})):
        query = select(h.customer_id, h.channel, h.status, h.at).where(h.customer_id.in_(part))
        found.update((c, ch, s, at) for c, ch, s, at in conn.execute(query))
    return found


__all__ = [
    "UNKNOWN_CUSTOMER",
    "ConsentOutcome",
    "ConsentRow",
    "Outcome",
    "Refused",
    "import_consents",
    "upsert_customers",
]
