"""Where receivers put what they accept: the store's inbox, with group commit.

A request is answered 2xx only after its work committed, so whatever was acknowledged
survives a crash. Committing costs the same for one request as for fifty (on SQLite
one write lock and one WAL sync, on PostgreSQL one round trip and one flush), so
requests that arrive together share a transaction: `run` queues the work, a writer
thread takes everything waiting and runs it in ONE transaction, each item inside its
own SAVEPOINT, so a failing item rolls back alone and its caller gets the exception
while the others commit. Callers are resumed only after that commit.

SQLite has one write lock, so it gets one writer; PostgreSQL gets `threads` writers,
whose batches commit in parallel. `stored` then tells the processor (the in-process
pump, or nothing, in which case the scheduled `ingest-events` flow picks the events
up) that events wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session

from journeys.store import session_scope
from journeys.tracking import TrackingPlan

T = TypeVar("T")

log = logging.getLogger("journeyflow.webhooks")

# Enough to amortise a commit, few enough that one slow item delays few others.
MAX_BATCH = 64
# PostgreSQL's SQLSTATE class 40 (deadlock, serialization failure): a batch holds its
# locks longer than a single request would, so it may lose such a race where a single
# request would not; the item then gets its own transaction.
_RETRY_ALONE_CLASS = "40"
_SAVEPOINT = "inbox_item"
# A writer with nothing to do for this long ends (a new one starts with the next call),
# so an idle receiver, or a test's, holds no thread.
IDLE_SECONDS = 5.0


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class _Item:
    work: Callable[[Session, datetime], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    ok: bool = False
    value: Any = None
    error: BaseException | None = None

    def succeeded(self, value: Any) -> None:
        self.ok, self.value, self.error = True, value, None

    def failed(self, error: BaseException) -> None:
        self.ok, self.value, self.error = False, None, error


class Inbox:
    """The store as receivers see it: run work in a transaction, report stored events."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_stored: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        threads: int = 8,
        plan: TrackingPlan | None = None,
    ) -> None:
        self.engine = engine
        # The tracking plan inbound events are checked against (None: no checks).
        self.plan = plan
        self.clock = clock
        self._on_stored = on_stored
        # PostgreSQL's pool has 5 + 10 connections by default; SQLite one write lock.
        self._writers = 1 if engine.dialect.name == "sqlite" else max(1, threads)
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._running = 0
        self._writers_lock = threading.Lock()

    def now(self) -> datetime:
        return self.clock()

    async def run(self, work: Callable[[Session, datetime], T]) -> T:
        """`work(session, now)` in a transaction on a writer thread; commits before returning.

        The transaction may be shared with other callers' work (each in its own
        savepoint): `work` must not commit, roll back or close the session.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Item(work, loop, future))
        self._start_writers()  # after the put: a writer about to retire then stays
        return await future

    def stored(self, new: int) -> None:
        """Events are in the inbox waiting for the engine (call after `run` committed)."""
        if new and self._on_stored is not None:
            self._on_stored(new)

    # ------------------------------------------------------------ the writer threads

    def _start_writers(self) -> None:
        with self._writers_lock:
            while self._running < self._writers:
                self._running += 1
                # Daemon: the process may end without it; whoever still waits on it has
                # not been answered, and the sender will deliver again.
                threading.Thread(
                    target=self._write_until_idle, name="inbox-writer", daemon=True
                ).start()

    def _write_until_idle(self) -> None:
        while True:
            try:
                batch = [self._queue.get(timeout=IDLE_SECONDS)]
            except queue.Empty:
                with self._writers_lock:
                    # Checked under the lock `run` takes after its put: nothing is
                    # left without a writer.
                    if self._queue.empty():
                        self._running -= 1
                        return
                continue
            while len(batch) < MAX_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A caller that went away (client disconnected) before its turn is skipped.
            batch = [item for item in batch if not item.future.done()]
            if not batch:
                continue
            try:
                self._write(batch)
            except Exception:  # the shared transaction failed as a whole (connection, commit)
                log.warning(
                    "inbox: a shared transaction failed; %d items retried alone", len(batch)
                )
                for item in batch:
                    self._write_alone(item)
            self._resolve(batch)

    def _write(self, batch: list[_Item]) -> None:
        """All items in one transaction, each in a savepoint; raises if the commit fails."""
        with session_scope(self.engine) as session:
            connection = session.connection()
            for item in batch:
                # Plain SAVEPOINT statements: the Session's own begin_nested() costs as
                # much as the insert an item usually is.
                connection.exec_driver_sql(f"SAVEPOINT {_SAVEPOINT}")
                try:
                    value = item.work(session, self.clock())
                    session.flush()  # ORM changes still pending belong to this item
                except BaseException as exc:  # delivered to the item's caller
                    connection.exec_driver_sql(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                    # Objects in the session may describe rows that were just rolled back.
                    session.expunge_all()
                    item.failed(exc)
                else:
                    connection.exec_driver_sql(f"RELEASE SAVEPOINT {_SAVEPOINT}")
                    item.succeeded(value)
        for item in batch:
            if item.error is not None and _sqlstate(item.error).startswith(_RETRY_ALONE_CLASS):
                self._write_alone(item)

    def _write_alone(self, item: _Item) -> None:
        try:
            with session_scope(self.engine) as session:
                item.succeeded(item.work(session, self.clock()))
        except BaseException as exc:  # delivered to the item's caller
            item.failed(exc)

    def _resolve(self, batch: list[_Item]) -> None:
        """Resume the callers, one wake-up per event loop for the whole batch."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Item]] = {}
        for item in batch:
            by_loop.setdefault(item.loop, []).append(item)
        for loop, items in by_loop.items():
            # A closed loop raises RuntimeError: nobody waits for these answers any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, items)


def _deliver(items: list[_Item]) -> None:
    for item in items:
        if item.future.done():
            continue  # cancelled while its work ran
        if item.ok:
            item.future.set_result(item.value)
        else:
            assert item.error is not None
            item.future.set_exception(item.error)


def _sqlstate(error: BaseException) -> str:
    """The SQLSTATE of a database error (psycopg's `sqlstate`), or ''."""
    original = getattr(error, "orig", None)
    return str(getattr(original, "sqlstate", None) or "")
