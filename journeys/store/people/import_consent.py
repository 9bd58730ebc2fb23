"""Bulk consent: a batch of consent records applied by the rules `record_consent` follows.

The decision is `consent_rules.consent_outcome`'s (never lift a suppressed address, a
change older than the current one goes into history only, a pending double opt-in
stays pending without its confirmation); one SELECT per `CHUNK` customers for what is
stored, then one INSERT or UPDATE per table for the batch, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Connection

from ..tables import consent_change_t, consent_t, customer_t
from .bulk import BulkRead, BulkWrite
from .consent_rules import Verdict, consent_outcome
from .import_rows import UNKNOWN_CUSTOMER, ConsentOutcome, ConsentRow

_insert = BulkWrite(consent_t, ("customer_id", "channel", "status", "source", "at"))
_update = BulkWrite(consent_t, ("status", "source", "at"), key="id")
_history = BulkWrite(
    consent_change_t,
    (
        *("customer_id", "channel", "status", "source", "at"),
        *("previous_status", "detail", "purpose", "system", "wording"),
    ),
)
_PROOF = ("purpose", "system", "wording")

Current = tuple[int, str, datetime]  # the consent row's id, status and time


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
    verdicts: list[tuple[ConsentRow, int, Current | None, Verdict, str | None] | None] = []
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
    inserts: list[tuple[object, ...]] = []
    updates: list[tuple[object, ...]] = []
    history: list[tuple[object, ...]] = []
    for item in verdicts:
        if item is None:
            outcomes.append(UNKNOWN_CUSTOMER)
            continue
        row, customer_id, now, verdict, why = item
        if verdict == "same" or (customer_id, row.channel, row.status, row.at) in seen:
            outcomes.append("unchanged")
            continue
        if verdict == "apply" and now is None:
            inserts.append((customer_id, row.channel, row.status, row.source, row.at))
            outcomes.append("created")
        elif verdict == "apply":
            assert now is not None
            updates.append((row.status, row.source, row.at, now[0]))
            outcomes.append("updated")
        else:
            outcomes.append("late" if verdict == "late" else "kept")
        history.append(_change(row, customer_id, now[1] if now else None, why))
    _insert.run(conn, inserts)
    _update.run(conn, updates)
    _history.run(conn, history)
    return outcomes


def _change(
    row: ConsentRow, customer_id: int, previous: str | None, not_applied: str | None
) -> tuple[object, ...]:
    # The detail `record_consent` writes: the IP (proof of opt-in), why not applied.
    detail = [f"ip={row.ip}"] if row.ip else []
    if not_applied:
        detail.append(f"not applied: {not_applied}")
    proof = dict(row.proof)
    return (
        *(customer_id, row.channel, row.status, row.source, row.at, previous),
        "; ".join(detail) or None,
        *(proof.get(name) for name in _PROOF),
    )


_ids = BulkRead(customer_t, ("external_id", "id"), key="external_id")
_states = BulkRead(
    consent_t, ("id", "customer_id", "channel", "status", "at"), key="customer_id", lock=True
)
_changes = BulkRead(consent_change_t, ("customer_id", "channel", "status", "at"), key="customer_id")


def _customer_ids(conn: Connection, external_ids: set[str]) -> dict[str, int]:
    return {external_id: id for external_id, id in _ids.rows(conn, sorted(external_ids))}


def _current(conn: Connection, keys: list[tuple[int, str]]) -> dict[tuple[int, str], Current]:
    """(consent id, status, at) per (customer id, channel), locked for the transaction."""
    found: dict[tuple[int, str], Current] = {}
    for id, customer_id, channel, status, at in _states.rows(conn, sorted({c for c, _ in keys})):
        found[(customer_id, channel)] = (id, status, at)
    return found


def _in_history(
    conn: Connection, candidates: list[tuple[int, ConsentRow]]
) -> set[tuple[int, str, str, datetime]]:
    """Which of the (customer id, record) are in the history already."""
    if not candidates:
        return set()
    customers = sorted({customer_id for customer_id, _ in candidates})
    return {(c, channel, s, at) for c, channel, s, at in _changes.rows(conn, customers)}


__all__ = ["import_consents"]
