"""Customers and consent from outside the event stream: a CRM's or shop's own records.

`upsert_customer` creates or updates a profile (the people API, bulk import);
`give_consent` records consent a source holds, with its proof. Both work inside the
caller's transaction on a Connection (or a Session's), so a request or an import
chunk is written whole or not at all.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, select

from ...errors import did_you_mean
from ...policy import CONSENT_STATUSES
from ..events import PROFILE_FIELDS, IncomingEvent
from ..sql import connection_of, lock_customers
from ..tables import consent_t, customer_t
from .consent import CONSENT_CHANNELS, record_consent
from .erased import ErasedCustomer, Identity, erased
from .profile_rules import (
    CONSENT_PURPOSES,
    ProfileError,
    check_customer_id,
    parse_profile,
)

Outcome = Literal["created", "updated", "unchanged"]


def upsert_customer(
    db: Any, external_id: str, profile_fields: Mapping[str, Any], now: datetime
) -> tuple[int, Outcome]:
    """Create or update the customer `external_id`; returns (id, what happened).

    `profile_fields`: any of email, phone, first_name, last_name, locale, timezone,
    country, attributes. Absent (or null) fields keep their stored value; `attributes`
    are merged into the stored ones. A phone number is read in the customer's country
    (the given one, else the stored one) and stored as E.164. Raises `ProfileError`
    naming the field, and `ErasedCustomer` when the id, address or number belongs to
    an erased person.
    """
    conn = connection_of(db)
    check_customer_id(external_id)
    if not isinstance(profile_fields, Mapping):
        raise ProfileError("customer", "a profile is an object of fields")
    lock_customers(conn, [external_id])
    row = conn.execute(
        select(customer_t).where(customer_t.c.external_id == external_id).with_for_update()
    ).first()
    stored = dict(row._mapping) if row is not None else {}
    profile = parse_profile(profile_fields, stored.get("country"))
    given = profile.fields()
    _refuse_erased(conn, external_id, given)
    if row is None:
        values = {name: given.get(name) for name in PROFILE_FIELDS}
        created = conn.execute(
            customer_t.insert().returning(customer_t.c.id),
            {
                "external_id": external_id,
                **values,
                "attributes": dict(profile.attributes),
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        return int(created), "created"
    attributes = {**(stored["attributes"] or {}), **profile.attributes}
    changes = {k: v for k, v in given.items() if stored.get(k) != v}
    if attributes != (stored["attributes"] or {}):
        changes["attributes"] = attributes
    if not changes:
        return int(stored["id"]), "unchanged"
    conn.execute(
        customer_t.update().where(customer_t.c.id == stored["id"]).values(**changes, updated_at=now)
    )
    return int(stored["id"]), "updated"


def give_consent(
    db: Any,
    customer_id: int,
    channel: str,
    status: str,
    *,
    source: str,
    at: datetime,
    ip: str | None = None,
    system: str | None = None,
    wording: str | None = None,
    purpose: str = "marketing",
    confirmed: bool = False,
) -> str:
    """Record consent a source holds; returns the status now in force on the channel.

    Every call is history (`consent_change`, with source, time, IP, system, wording).
    It never lifts `suppressed` (a bounce, a spam complaint, an invalid number): that
    change is history marked not applied. A double opt-in still `pending` becomes
    `subscribed` only when the source declares it holds the confirmation
    (`confirmed=True`); otherwise it stays pending. A change older than the one in
    force is history only.
    """
    conn = connection_of(db)
    if channel not in CONSENT_CHANNELS:
        raise ProfileError("channel", f"'{channel}'{did_you_mean(channel, CONSENT_CHANNELS)}")
    if status not in CONSENT_STATUSES:
        raise ProfileError("status", f"'{status}'{did_you_mean(status, CONSENT_STATUSES)}")
    if purpose not in CONSENT_PURPOSES:
        raise ProfileError("purpose", f"'{purpose}'{did_you_mean(purpose, CONSENT_PURPOSES)}")
    if not source or len(source) > 64:
        raise ProfileError("source", "1 to 64 characters naming where the consent comes from")
    if at.tzinfo is None:
        raise ProfileError("at", "a time with its time zone (e.g. 2026-03-01T10:00:00Z)")
    for name, value, limit in (
        ("ip", ip, 64),
        ("system", system, 128),
        ("wording", wording, 10_000),
    ):
        if value is not None and len(value) > limit:
            raise ProfileError(name, f"at most {limit} characters")
    current = conn.execute(
        select(consent_t.c.status)
        .where(consent_t.c.customer_id == customer_id, consent_t.c.channel == channel)
        .with_for_update()
    ).scalar_one_or_none()
    hold: str | None = None
    if current == "suppressed" and status != "suppressed":
        hold = "the address stays suppressed"
    elif current == "pending" and status == "subscribed" and not confirmed:
        hold = "double opt-in pending; the source declares no confirmation"
    proof = {"purpose": purpose, "system": system, "wording": wording}
    return record_consent(
        conn, customer_id, channel, status, source, at, ip, proof=proof, not_applied=hold
    )


def customer_id_of(db: Any, external_id: str) -> int | None:
    """The store's id of the customer `external_id`, None when there is none."""
    conn = connection_of(db)
    found = conn.execute(
        select(customer_t.c.id).where(customer_t.c.external_id == external_id)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def _refuse_erased(conn: Connection, external_id: str, given: Mapping[str, Any]) -> None:
    wanted: list[Identity] = [("external_id", external_id)]
    wanted += [(kind, given[kind]) for kind in ("email", "phone") if given.get(kind)]
    found = erased(conn, wanted)
    if found:
        raise ErasedCustomer(kind for kind, _ in found)


def customer_updated(
    external_id: str, fields: Mapping[str, Any], now: datetime, by: str, source: str = "import"
) -> IncomingEvent:
    """The event a profile change writes into the customer's history (the people API,
    an import): journeys react to it, and their segments are checked with it."""
    return IncomingEvent(
        source=source,
        external_id=f"customer.updated:{uuid.uuid4().hex}",
        type="customer.updated",
        customer_id=external_id,
        occurred_at=now,
        data={"fields": sorted(k for k in fields if fields[k] is not None), "by": by},
    )
