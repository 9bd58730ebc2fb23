"""Events that carry consent, applied with the batch that applies them to the journeys.

A newsletter sign-up (`newsletter.subscribed`) is a wish, not yet consent: marketing
email needs the customer to confirm the address (double opt-in), so the sign-up makes
email consent `pending` until the signed confirmation link sets it `subscribed`.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from ..events import IncomingEvent
from ..sql import chunks
from ..tables import customer_t
from .consent import consents_for, record_consent

SUBSCRIBED = "newsletter.subscribed"

# A sign-up changes nothing for these: `subscribed` already is the consent it asks for,
# and `suppressed` (a bounce, a spam report) must not be lifted by a form anyone can fill.
_KEPT = frozenset({"subscribed", "suppressed"})


def apply_consent_events(conn: Connection, events: Iterable[IncomingEvent]) -> int:
    """Set email consent `pending` for each sign-up; returns how many changed it.

    Runs after the batch wrote its customers, so every event's customer exists. `at` is
    when the sign-up happened, so a sign-up replayed after a newer change stays history.
    """
    signups = [e for e in events if e.type == SUBSCRIBED]
    if not signups:
        return 0
    ids = _customer_ids(conn, {e.customer_id for e in signups})
    current = consents_for(conn, ids.values(), ["email"])
    changed = 0
    for event in signups:
        customer_id = ids.get(event.customer_id)
        if customer_id is None or current.get((customer_id, "email")) in _KEPT:
            continue
        given = event.data.get("source")
        source = given if isinstance(given, str) and given else event.source
        current[(customer_id, "email")] = record_consent(
            conn, customer_id, "email", "pending", source[:64], event.occurred_at
        )
        changed += 1
    return changed


def _customer_ids(conn: Connection, external_ids: set[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(sorted(external_ids)):
        query = select(customer_t.c.external_id, customer_t.c.id).where(
            customer_t.c.external_id.in_(part)
        )
        found.update({external_id: id for external_id, id in conn.execute(query)})
    return found
