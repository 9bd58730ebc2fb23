"""Bulk writes of an import: customers and their consent, a batch of rows at a time.

One SELECT per `CHUNK` rows for what is stored, then one INSERT and one UPDATE per
table through the driver (`bulk.BulkWrite`), in the caller's transaction. The rules
are the ones every other writer follows, not a copy of them: a profile is checked by
the people API's rules (`parse_profile`, or `check_profile`, the same rules without a
model per row), a customer's profile changes through `CustomerRow` (what the event
ingest uses: given fields replace, attributes merge), consent through
`consent_rules.consent_outcome` (`import_consent`).

A row equal to what is stored changes nothing, not even `updated_at` or the consent
history: importing the same file again reports every row unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ..events import PROFILE_FIELDS
from ..sql import lock_customers
from ..state.load import CustomerRow, load_customers
from ..tables import customer_t
from .bulk import BulkWrite
from .erased import ErasedCustomer, erased, erased_identity_t
from .import_consent import import_consents
from .import_rows import UNKNOWN_CUSTOMER, ConsentOutcome, ConsentRow, Outcome, Refused
from .profile_check import GivenProfile, Profile, check_profile, given_fields
from .profile_rules import ProfileError, check_customer_id, refusal

_VALUES = (*PROFILE_FIELDS, "attributes", "updated_at")
_insert = BulkWrite(customer_t, ("external_id", *_VALUES, "created_at"))
_update = BulkWrite(customer_t, _VALUES, key="id")
_EMAIL, _PHONE = PROFILE_FIELDS.index("email"), PROFILE_FIELDS.index("phone")


def upsert_customers(
    conn: Connection, rows: Sequence[tuple[str, GivenProfile]], now: datetime
) -> list[Outcome | Refused]:
    """Create or update customers by external id; the outcome of each row, in order.

    Fields as given are checked as `people.upsert_customer` checks them (a phone
    number read in the given country, else the stored one); a row naming an erased
    person is refused. An external id appears at most once in `rows` (the caller
    starts a new batch rather than repeat one)."""
    ids = [external_id for external_id, _ in rows]
    if len(set(ids)) != len(ids):
        raise ValueError("an external id twice in one batch")
    lock_customers(conn, ids)  # as the ingest does: one writer per customer at a time
    stored = load_customers(conn, ids)
    outcomes: list[Outcome | Refused] = []
    parsed: list[tuple[int, str, Profile]] = []
    for index, (external_id, given) in enumerate(rows):
        if isinstance(given, tuple):
            profile = given
        else:
            known = stored.get(external_id)
            try:
                check_customer_id(external_id)
                profile = check_profile(given, known.fields.get("country") if known else None)
            except ProfileError as exc:
                outcomes.append(refusal(exc))
                continue
        outcomes.append("unchanged")  # decided below
        parsed.append((index, external_id, profile))
    # One cheap query spares hashing every id, address and number while nobody was erased.
    anyone = conn.execute(select(erased_identity_t.c.id).limit(1)).first() is not None
    gone = erased(conn, [i for _, e, p in parsed for i in _identities(e, p)]) if anyone else set()
    new: list[tuple[Any, ...]] = []
    changed: list[CustomerRow] = []
    for index, external_id, (values, attributes) in parsed:
        if gone:
            kinds = [k for k, v in _identities(external_id, (values, attributes)) if (k, v) in gone]
            if kinds:
                outcomes[index] = Refused(kinds[0], str(ErasedCustomer(kinds)))
                continue
        customer = stored.get(external_id)
        if customer is None:  # the values as they are (the ids in `rows` are unique)
            new.append((external_id, *values, attributes, now, now))
            outcomes[index] = "created"
            continue
        customer.apply_fields(given_fields((values, attributes)), attributes)
        if customer.changed:
            changed.append(customer)
            outcomes[index] = "updated"
    _insert.run(conn, new)
    _update.run(
        conn, [(*map(c.fields.get, PROFILE_FIELDS), c.attributes, now, c.id) for c in changed]
    )
    return outcomes


def given_names(given: GivenProfile) -> Mapping[str, Any]:
    """A row's profile by field name, as given (what its `customer.updated` lists)."""
    if not isinstance(given, tuple):
        return given
    attributes = {"attributes": given[1]} if given[1] else {}
    return {**given_fields(given), **attributes}


def _identities(external_id: str, profile: Profile) -> list[tuple[str, str]]:
    found = [("external_id", external_id)]
    email, phone = profile[0][_EMAIL], profile[0][_PHONE]
    found += [(kind, v) for kind, v in (("email", email), ("phone", phone)) if v]
    return found


__all__ = [
    "UNKNOWN_CUSTOMER",
    "ConsentOutcome",
    "ConsentRow",
    "GivenProfile",
    "Outcome",
    "Refused",
    "given_names",
    "import_consents",
    "upsert_customers",
]
