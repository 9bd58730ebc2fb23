"""Bulk import: customers, their consent, and past events, from CSV or JSON Lines.

`import_file` streams the file (`import_file.RowReader`), turns each row into a record
(`import_columns`), writes records a batch at a time in one transaction each
(`journeys.store.importing` for customers and consent; the inbox for events, so that
an event imported twice, or also delivered by a webhook under the same source and id,
is stored once), and writes every refused row to the rejects file
(`import_rejects`). Memory stays flat in the file's size: one batch at a time.

A batch never holds the same customer (or customer and channel, or event) twice: a
repeat starts a new batch, so the rows apply in file order, as one by one.
`dry_run` does all of it, each batch rolled back: the summary says what would change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from journeys.store import BatchResult, IncomingEvent, JourneyRegistry, session_scope
from journeys.store.importing import ConsentRow, Refused, import_consents, upsert_customers
from journeys.store.ingest import process_inbox, store_new_events
from journeys.store.people import customer_updated
from journeys.store.segment_timers import segment_journeys

from .import_columns import (
    ColumnError,
    Columns,
    ConsentRecord,
    CustomerRecord,
    Kind,
    RowError,
    to_consent,
    to_customer,
    to_event,
)
from .import_file import BadRow, Format, ImportFileError, RowReader, format_of
from .import_rejects import Rejects

BATCH = 1000
Progress = Callable[[int, int], None]  # (rows read, bytes read)
Record = CustomerRecord | ConsentRecord | IncomingEvent

# Why a row changed nothing though it was valid, in the summary's words.
_NOTES = {
    "late": "older than the consent on record (kept in its history)",
    "kept": "not applied: a suppressed address, or a pending double opt-in not confirmed",
}


@dataclass
class ImportSummary:
    kind: Kind
    path: Path
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    notes: Counter[str] = field(default_factory=Counter)
    rejects_file: Path | None = None
    first_rejects: list[str] = field(default_factory=list)
    applied: BatchResult | None = None  # events: what the ingest made of them


class _Batch:
    def __init__(self) -> None:
        self.records: list[tuple[BadRow, Record]] = []  # the row (for a late reject) + record
        self.keys: set[Hashable] = set()


def import_file(
    kind: Kind,
    path: Path,
    engine: Engine,
    *,
    fmt: str | None = None,
    mapping: dict[str, str] | None = None,
    dry_run: bool = False,
    registry: JourneyRegistry | None = None,
    batch_size: int = BATCH,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ImportSummary:
    """Import `path`; see the module docstring. Raises `ImportFileError` or
    `ColumnError` only for the file as a whole (unreadable, an unknown CSV column).

    Events: stored in the inbox, then applied by the ingest when `registry` is given
    (else the scheduled `ingest-events` flow applies them). Customers: when a journey of
    `registry` is entered by a segment, each created or changed customer also gets a
    `customer.updated` in their history, as a profile update by the API does, applied
    at the end, so that their segments are checked."""
    form: Format = format_of(path, fmt)
    columns = Columns(kind, mapping)
    reader = RowReader(path, form)
    summary = ImportSummary(kind, path, dry_run)
    rejects = Rejects(path, form, write=not dry_run)
    stamp = now or datetime.now(UTC)
    batch = _Batch()
    checked = False
    announce = kind == "customers" and registry is not None and bool(segment_journeys(registry))

    def flush() -> None:
        if batch.records:
            _write(kind, engine, batch, summary, rejects, reader.header, stamp, dry_run, announce)
        batch.records.clear()
        batch.keys.clear()
        if progress is not None:
            progress(summary.rows, reader.position)

    try:
        for item in reader:
            if not checked and reader.header is not None:
                columns.check_header(reader.header, str(path))
                checked = True
            summary.rows += 1
            if isinstance(item, BadRow):
                rejects.add(item, reader.header)
                continue
            original = BadRow(item.line, "", "", item.original)
            try:
                record = _record(kind, columns.fields(item.values, text=form == "csv"))
            except RowError as exc:
                rejects.add(BadRow(item.line, exc.field, exc.reason, item.original), reader.header)
                continue
            key = _key(record)
            if key in batch.keys or len(batch.records) >= batch_size:
                flush()
            batch.keys.add(key)
            batch.records.append((original, record))
        flush()
    finally:
        rejects.close()
    summary.rejected = rejects.count
    summary.rejects_file = rejects.written
    summary.first_rejects = rejects.first
    if (kind == "events" or announce) and registry is not None and not dry_run:
        summary.applied = apply_inbox(engine, registry, stamp)
    return summary


def _record(kind: Kind, fields: dict[str, Any]) -> Record:
    if kind == "customers":
        return to_customer(fields)
    if kind == "consent":
        return to_consent(fields)
    return to_event(fields)


def _key(record: Record) -> Hashable:
    if isinstance(record, CustomerRecord):
        return record.external_id
    if isinstance(record, ConsentRecord):
        return (record.customer_id, record.channel)
    return record.key


class _DryRun(Exception):
    """Raised to roll a dry run's batch back."""


def _write(
    kind: Kind,
    engine: Engine,
    batch: _Batch,
    summary: ImportSummary,
    rejects: Rejects,
    header: list[str] | None,
    now: datetime,
    dry_run: bool,
    announce: bool = False,
) -> None:
    outcomes: list[str | Refused] = []
    try:
        with session_scope(engine) as session:
            outcomes = _outcomes(kind, session, batch, now, announce)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    for (row, _), outcome in zip(batch.records, outcomes, strict=True):
        if isinstance(outcome, Refused):
            rejects.add(BadRow(row.line, outcome.field, outcome.reason, row.original), header)
        elif outcome in ("created", "updated", "unchanged"):
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        else:
            summary.unchanged += 1
            summary.notes[_NOTES[outcome]] += 1


def _outcomes(
    kind: Kind, session: Session, batch: _Batch, now: datetime, announce: bool = False
) -> list[str | Refused]:
    records = [record for _, record in batch.records]
    conn = session.connection()
    if kind == "customers":
        customers = [(r.external_id, r.fields) for r in records if isinstance(r, CustomerRecord)]
        outcomes: list[str | Refused] = list(upsert_customers(conn, customers, now))
        if announce:
            changed = [
                customer_updated(external_id, fields, now, "import")
                for (external_id, fields), outcome in zip(customers, outcomes, strict=True)
                if outcome in ("created", "updated")
            ]
            store_new_events(session, changed, now)
        return outcomes
    if kind == "consent":
        return list(import_consents(conn, [_consent_row(r) for r in records]))
    events = [r for r in records if isinstance(r, IncomingEvent)]
    new = {e.key for e in store_new_events(session, events, now)}
    return ["created" if e.key in new else "unchanged" for e in events]


def _consent_row(record: Record) -> ConsentRow:
    assert isinstance(record, ConsentRecord)
    proof = tuple(
        (name, value)
        for name in ("purpose", "system", "wording")
        if (value := getattr(record, name)) is not None
    )
    return ConsentRow(
        record.customer_id,
        record.channel,
        record.status,
        record.source,
        record.at,
        record.ip,
        proof,
        record.confirmed,
    )


def apply_inbox(engine: Engine, registry: JourneyRegistry, now: datetime) -> BatchResult:
    """Apply what waits in the inbox, as the `ingest-events` flow does, until none waits."""
    total = BatchResult()
    while True:
        with session_scope(engine) as session:
            result = process_inbox(session, registry, now)
        total += result
        if not result.events:
            return total


__all__ = ["ColumnError", "ImportFileError", "ImportSummary", "import_file"]
