"""Bulk import: customers, their consent, and past events, from CSV or JSON Lines.

`import_file` streams the file (`import_file.RowReader`), checks each row into a
record (`import_check`: columns, then the receivers' rules), writes records a batch at
a time in one transaction each (`journeys.store.people.importing` for customers and consent;
the inbox for events, so that an event imported twice, or also delivered by a webhook
under the same source and id, is stored once), and writes every refused row to the
rejects file (`import_rejects`).

A large file's rows are checked in worker processes (`import_pool`) while this
process reads and writes; the results come back in file order. A batch is written by
a writer thread while this one gathers the next: the database's own work (SQLite's
statements and its sync to disk, PostgreSQL's round trips) runs outside the GIL, so
it overlaps with reading. Memory stays flat in the file's size: a few chunks of rows
out at a time, two batches at most (one being written, one gathered).

A batch never holds the same customer (or customer and channel, or event) twice: a
repeat starts a new batch, so the rows apply in file order, as one by one.
`dry_run` does all of it, each batch rolled back: the summary says what would change.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from journeys.store import BatchResult, IncomingEvent, JourneyRegistry, session_scope
from journeys.store.people.import_rows import ConsentRow, Refused
from journeys.store.people.importing import given_names, import_consents, upsert_customers
from journeys.store.people.profiles import customer_updated
from journeys.store.state.ingest import process_inbox, store_new_events
from journeys.store.state.segment_timers import segment_journeys

from .import_check import CheckSpec, Chunk, check_chunk
from .import_columns import ColumnError, Columns, Kind
from .import_file import BadRow, Format, ImportFileError, Raw, RowReader, format_of
from .import_pool import CheckPool, default_workers
from .import_rejects import Rejects

BATCH = 1000
CHUNK = 1000  # rows checked at a time (by a worker process, for a large file)
Progress = Callable[[int, int], None]  # (rows read, bytes read)

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


Record = tuple[Any, ...] | IncomingEvent  # see `import_check.Checked`


class _Batch:
    def __init__(self) -> None:
        # The row (for a reject by the store): its line and as read; its record.
        self.records: list[tuple[int, Raw, Record]] = []
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
    workers: int | None = None,
) -> ImportSummary:
    """Import `path`; see the module docstring. Raises `ImportFileError` or
    `ColumnError` only for the file as a whole (unreadable, an unknown CSV column).

    Events: stored in the inbox, then applied by the ingest when `registry` is given
    (else the scheduled `ingest-events` flow applies them). Customers: when a journey of
    `registry` is entered by a segment, each created or changed customer also gets a
    `customer.updated` in their history, as a profile update by the API does, applied
    at the end, so that their segments are checked. `workers`: the processes that
    check a large file's rows (0: none, this process checks them; by default one per
    core but this process's)."""
    form: Format = format_of(path, fmt)
    columns = Columns(kind, mapping)
    reader = RowReader(path, form)
    summary = ImportSummary(kind, path, dry_run)
    rejects = Rejects(path, form, write=not dry_run)
    stamp = now or datetime.now(UTC)
    batch = _Batch()
    announce = kind == "customers" and registry is not None and bool(segment_journeys(registry))

    writing: list[tuple[_Batch, Future[list[str | Refused]]]] = []

    def tally() -> None:
        # The batch before: its outcomes into the summary and the rejects file.
        while writing:
            done, outcomes = writing.pop()
            _tally(done, outcomes.result(), summary, rejects, reader.header)
            if progress is not None:
                progress(summary.rows, reader.position)

    def flush() -> None:
        nonlocal batch
        tally()
        if batch.records:
            job = writer.submit(_write, kind, engine, batch, stamp, dry_run, announce)
            writing.append((batch, job))
            batch = _Batch()

    key = _KEYS[kind]
    pool = CheckPool(check_chunk, default_workers() if workers is None else workers)
    writer = ThreadPoolExecutor(1, thread_name_prefix="import-writer")
    try:
        with pool, writer:
            for lines, (_, rows), results in pool.map(_chunks(reader, columns, summary)):
                for line, row, result in zip(lines, rows, results, strict=True):
                    if isinstance(result, Refused):
                        rejects.add(_bad(line, row, result), reader.header)
                        continue
                    found = key(result)
                    if found in batch.keys or len(batch.records) >= batch_size:
                        flush()
                    batch.keys.add(found)
                    batch.records.append((line, row, result))
            flush()
            tally()
    finally:
        rejects.close()
    summary.rejected = rejects.count
    summary.rejects_file = rejects.written
    summary.first_rejects = rejects.first
    if (kind == "events" or announce) and registry is not None and not dry_run:
        summary.applied = apply_inbox(engine, registry, stamp)
    return summary


def _chunks(
    reader: RowReader, columns: Columns, summary: ImportSummary
) -> Iterator[tuple[list[int], Chunk]]:
    """The file's rows, `CHUNK` at a time, with what checking them needs (the lines
    stay here)."""
    header: tuple[str, ...] = ()
    lines: list[int] = []
    rows: list[Raw] = []
    for line, row in reader.raw():
        if not header and reader.header is not None:
            header = tuple(reader.header)
            columns.check_header(header, str(reader.path))
        lines.append(line)
        rows.append(row)
        if len(rows) >= CHUNK:
            summary.rows += len(rows)
            yield lines, (CheckSpec(columns.kind, tuple(columns.mapping.items()), header), rows)
            lines, rows = [], []
    if rows:
        summary.rows += len(rows)
        yield lines, (CheckSpec(columns.kind, tuple(columns.mapping.items()), header), rows)


def _bad(line: int, row: Raw, refused: Refused) -> BadRow:
    return row if isinstance(row, BadRow) else BadRow(line, refused.field, refused.reason, row)


_KEYS: dict[Kind, Callable[[Any], Hashable]] = {
    "customers": lambda record: record[0],  # the external id
    "consent": lambda record: record[:2],  # the external id and the channel
    "events": lambda event: event.key,
}


class _DryRun(Exception):
    """Raised to roll a dry run's batch back."""


def _write(
    kind: Kind, engine: Engine, batch: _Batch, now: datetime, dry_run: bool, announce: bool
) -> list[str | Refused]:
    """One batch in one transaction (rolled back for a dry run); each row's outcome."""
    outcomes: list[str | Refused] = []
    try:
        with session_scope(engine) as session:
            outcomes = _outcomes(kind, session, batch, now, announce)
            if dry_run:
                raise _DryRun
    except _DryRun:
        pass
    return outcomes


def _tally(
    batch: _Batch,
    outcomes: list[str | Refused],
    summary: ImportSummary,
    rejects: Rejects,
    header: list[str] | None,
) -> None:
    for (line, row, _), outcome in zip(batch.records, outcomes, strict=True):
        if isinstance(outcome, Refused):
            rejects.add(_bad(line, row, outcome), header)
        elif outcome in ("created", "updated", "unchanged"):
            setattr(summary, outcome, getattr(summary, outcome) + 1)
        else:
            summary.unchanged += 1
            summary.notes[_NOTES[outcome]] += 1


def _outcomes(
    kind: Kind, session: Session, batch: _Batch, now: datetime, announce: bool = False
) -> list[str | Refused]:
    records = [record for _, _, record in batch.records]
    conn = session.connection()
    if kind == "customers":
        customers = [(r[0], r[1]) for r in records if isinstance(r, tuple)]
        outcomes: list[str | Refused] = list(upsert_customers(conn, customers, now))
        if announce:
            changed = [
                customer_updated(external_id, given_names(given), now, "import")
                for (external_id, given), outcome in zip(customers, outcomes, strict=True)
                if outcome in ("created", "updated")
            ]
            store_new_events(session, changed, now)
        return outcomes
    if kind == "consent":
        return list(import_consents(conn, [ConsentRow._make(r) for r in records]))
    events = [r for r in records if isinstance(r, IncomingEvent)]
    new = {e.key for e in store_new_events(session, events, now)}
    return ["created" if e.key in new else "unchanged" for e in events]


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
