"""The list of erased people: keyed hashes of their id, address and number.

After an erasure nothing personal about the customer stays, yet a later event or import
naming them must not create and message them again. So the store keeps HMAC-SHA256
digests (never the values) of the external id, the email address (lower-cased) and the
phone number (E.164). The key is a secret of the installation: without it the digests
cannot be tested against a list of guessed addresses.

The key: JOURNEYFLOW_ERASURE_SECRET, else JOURNEYFLOW_LINK_SECRET, else one made once
and kept in var/erasure_secret. It must stay the same for the list to keep working.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Table, select

from ...errors import StoreError
from ..events import IncomingEvent
from ..sql import chunks, insert
from ..tables import inbound_event_t, metadata

ERASURE_SECRET_ENV = "JOURNEYFLOW_ERASURE_SECRET"
_FALLBACK_ENV = "JOURNEYFLOW_LINK_SECRET"
_SECRET_FILE = Path("var/erasure_secret")

erased_identity_t: Table = metadata.tables["erased_identity"]

Identity = tuple[str, str]  # (kind, value): ("email", "anna@example.com")


class ErasedCustomer(StoreError):
    """The customer, their address or their number was erased: not created again."""

    def __init__(self, kinds: Iterable[str]) -> None:
        self.kinds = sorted(set(kinds))
        super().__init__(
            f"this customer's {' and '.join(k.replace('_', ' ') for k in self.kinds)} "
            "belongs to a person who was erased (GDPR): not stored again"
        )


def erasure_key() -> bytes:
    """The installation's key for the digests (see the module's description)."""
    for name in (ERASURE_SECRET_ENV, _FALLBACK_ENV):
        value = os.environ.get(name)
        if value:
            return value.encode()
    if not _SECRET_FILE.exists():
        _SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
        _SECRET_FILE.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        _SECRET_FILE.chmod(0o600)
    return _SECRET_FILE.read_text(encoding="utf-8").strip().encode()


def digest(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of the normalised value, the kind in the message (an id that looks
    like an address never matches the address)."""
    normal = value.strip().lower() if kind == "email" else value.strip()
    return hmac.new(key, f"{kind}:{normal}".encode(), hashlib.sha256).hexdigest()


def erased(
    conn: Connection, identities: Iterable[Identity], key: bytes | None = None
) -> set[Identity]:
    """The identities among `identities` that belong to erased people."""
    wanted = {(kind, value) for kind, value in identities if value}
    if not wanted:
        return set()
    secret = key if key is not None else erasure_key()
    by_digest = {(kind, digest(secret, kind, value)): (kind, value) for kind, value in wanted}
    found: set[Identity] = set()
    digests = sorted({d for _, d in by_digest})
    for part in chunks(digests):
        query = select(erased_identity_t.c.kind, erased_identity_t.c.digest).where(
            erased_identity_t.c.digest.in_(part)
        )
        for kind, value in conn.execute(query):
            if (kind, value) in by_digest:
                found.add(by_digest[(kind, value)])
    return found


def add_erased(
    conn: Connection, identities: Iterable[Identity], at: datetime, key: bytes | None = None
) -> int:
    """Put identities on the list (once each); returns how many were new."""
    secret = key if key is not None else erasure_key()
    rows = sorted({(kind, digest(secret, kind, value)) for kind, value in identities if value})
    if not rows:
        return 0
    statement = (
        insert(conn, erased_identity_t)
        .on_conflict_do_nothing(index_elements=["kind", "digest"])
        .returning(erased_identity_t.c.id)
    )
    params = [{"kind": kind, "digest": d, "erased_at": at} for kind, d in rows]
    return len(conn.execute(statement, params).all())


def screen_events(conn: Connection, events: list[IncomingEvent]) -> list[IncomingEvent]:
    """The events the engine may see: none about an erased customer id, and no erased
    address or number carried in a profile (dropped from it). What arrived about an
    erased person is kept in the inbox without its payload and profile."""
    if not events or conn.execute(select(erased_identity_t.c.id).limit(1)).first() is None:
        return events
    wanted: list[Identity] = []
    for event in events:
        wanted.append(("external_id", event.customer_id))
        if event.customer is not None:
            wanted += [("email", event.customer.email or ""), ("phone", event.customer.phone or "")]
    found = erased(conn, wanted)
    if not found:
        return events
    kept: list[IncomingEvent] = []
    gone: list[IncomingEvent] = []
    for event in events:
        if ("external_id", event.customer_id) in found:
            gone.append(event)
            continue
        profile = event.customer
        if profile is not None:
            drop = {k: None for k in ("email", "phone") if (k, getattr(profile, k) or "") in found}
            if drop:
                stripped = profile.model_copy(update=drop)
                event = event.model_copy(update={"customer": stripped})
                kept_fields = stripped.model_dump(mode="json", exclude_defaults=True)
                _scrub(conn, [event], profile=kept_fields)
        kept.append(event)
    _scrub(conn, gone)
    return kept


def _scrub(conn: Connection, events: list[IncomingEvent], profile: Any = None) -> None:
    for event in events:
        values: dict[str, Any] = {"profile": profile}
        if profile is None:
            values["payload"] = {}
        conn.execute(
            inbound_event_t.update()
            .where(
                inbound_event_t.c.source == event.source,
                inbound_event_t.c.external_id == event.external_id,
            )
            .values(**values)
        )
