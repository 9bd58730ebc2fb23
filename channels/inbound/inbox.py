"""Where receivers put what they accept: the store's inbox, one transaction per request.

A request is answered 2xx only after its transaction committed, so whatever was
acknowledged survives a crash. Database work runs on worker threads, away from the
event loop; `stored` then tells the processor (the in-process pump, or nothing, in
which case the scheduled `ingest-events` flow picks the events up) that events wait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from sqlmodel import Session

from journeys.store import session_scope

T = TypeVar("T")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Inbox:
    """The store as receivers see it: run work in a transaction, report stored events."""

    def __init__(
        self,
        engine: Engine,
        *,
        on_stored: Callable[[int], None] | None = None,
        clock: Callable[[], datetime] = _utcnow,
        threads: int = 8,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self._on_stored = on_stored
        # A few writers at a time: SQLite has one write lock, and more threads than
        # that only queue on it (PostgreSQL's pool has 5 + 10 connections by default).
        self._limiter = anyio.CapacityLimiter(threads)

    def now(self) -> datetime:
        return self.clock()

    async def run(self, work: Callable[[Session, datetime], T]) -> T:
        """`work(session, now)` in one transaction on a worker thread; commits before returning."""
        return await anyio.to_thread.run_sync(self._transaction, work, limiter=self._limiter)

    def _transaction(self, work: Callable[[Session, datetime], T]) -> T:
        with session_scope(self.engine) as session:
            return work(session, self.clock())

    def stored(self, new: int) -> None:
        """Events are in the inbox waiting for the engine (call after `run` committed)."""
        if new and self._on_stored is not None:
            self._on_stored(new)
