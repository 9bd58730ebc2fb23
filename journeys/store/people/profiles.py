"""Customers and consent from outside the event stream: a CRM's or shop's own records.

`upsert_customer` creates or updates a profile (the people API, bulk import);
`give_consent` records consent a source holds, with its proof. Both work inside the
caller's transaction on a Connection (or a Session's), so a request or an import
chunk is written whole or not at all.
"""

from __future__ import annotations

import uuid
import zoneinfo
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import ValidationError
from sqlalchemy import Connection, select

from ...errors import StoreError, did_you_mean
from ...phone import InvalidPhoneNumber, to_e164
from ...policy import CONSENT_STATUSES
from ..events import PROFILE_FIELDS, CustomerProfile, IncomingEvent
from ..sql import connection_of, lock_customers
from ..tables import consent_t, customer_t
from .consent import CONSENT_CHANNELS, record_consent
from .erased import ErasedCustomer, Identity, erased

Outcome = Literal["created", "updated", "unchanged"]

# What consent is for. The send rules read one consent per channel: for marketing
# (transactional messages need none), so that is the one purpose there is.
CONSENT_PURPOSES = ("marketing",)
PROFILE_KEYS = (*PROFILE_FIELDS, "attributes")


class ProfileError(StoreError):
    """A profile or consent field is invalid; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


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
    _check_id(external_id)
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


def parse_profile(fields: Mapping[str, Any], stored_country: str | None = None) -> CustomerProfile:
    """Validate profile fields; a `ProfileError` names the first bad one."""
    unknown = sorted(str(k) for k in fields if k not in PROFILE_KEYS)
    if unknown:
        raise ProfileError(
            unknown[0], f"not a profile field{did_you_mean(unknown[0], PROFILE_KEYS)}"
        )
    given = {k: v for k, v in fields.items() if v is not None}
    phone = given.pop("phone", None)
    try:
        profile = CustomerProfile.model_validate(given)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "customer"
        raise ProfileError(where, first["msg"]) from None
    if profile.timezone is not None:
        _check_zone(profile.timezone)
    if phone is None:
        return profile
    if not isinstance(phone, str) or len(phone) > 64:
        raise ProfileError("phone", "a phone number is a string of at most 64 characters")
    try:
        e164 = to_e164(phone, profile.country or stored_country)
    except InvalidPhoneNumber as exc:
        raise ProfileError("phone", str(exc)) from None
    return profile.model_copy(update={"phone": e164})


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


def _check_id(external_id: object) -> None:
    if not isinstance(external_id, str) or not 1 <= len(external_id) <= 255:
        raise ProfileError("id", "a customer id is 1 to 255 characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in external_id):
        raise ProfileError("id", "a customer id has no control characters")


def _check_zone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # 'Europe' is a folder
        raise ProfileError("timezone", f"'{name}' is not an IANA time zone") from None


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
