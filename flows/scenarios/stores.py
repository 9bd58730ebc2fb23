"""A fresh, migrated store for every scenario: SQLite in memory, copied from a template.

Migrating a database takes tens of milliseconds; copying a migrated one in memory
(SQLite's backup API) takes well under one. Each scenario starts from an empty store,
so nothing of one scenario (a timer, a frequency cap) reaches another.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Engine

from journeys.store import create_db_engine, create_schema

# Makes an empty, migrated database for one scenario, and disposes of it afterwards.
StoreFactory = Callable[[], AbstractContextManager[Engine]]


def _memory_url(name: str) -> str:
    # A named in-memory database, shared by the connections of this process: it lives
    # as long as one of them is open.
    return f"sqlite:///file:{name}?mode=memory&cache=shared&uri=true"


class MemoryStores:
    """One database in memory, reset to a migrated template before each scenario.

    The same engine serves every scenario: SQLAlchemy compiles each statement once per
    engine, and a new engine per scenario would spend most of its time compiling.
    """

    def __init__(self) -> None:
        prefix = f"journeyflow-scenario-{uuid.uuid4().hex[:12]}"
        self._urls = (_memory_url(f"{prefix}-template"), _memory_url(f"{prefix}-run"))
        self._lock = threading.Lock()
        self._engines: tuple[Engine, Engine] | None = None

    def _ready(self) -> tuple[Engine, Engine]:
        if self._engines is None:
            template = create_db_engine(self._urls[0])
            create_schema(template)
            self._engines = (template, create_db_engine(self._urls[1]))
        return self._engines

    @contextmanager
    def __call__(self) -> Iterator[Engine]:
        with self._lock:  # one scenario at a time: they share the database
            template, engine = self._ready()
            # Connections stay open in the pools (SQLite's pool for memory databases
            # keeps one per thread), and with them the databases.
            source, target = template.raw_connection(), engine.raw_connection()
            try:
                source.driver_connection.backup(target.driver_connection)  # type: ignore[union-attr]
            finally:
                source.close()
                target.close()
            yield engine

    def close(self) -> None:
        with self._lock:
            if self._engines is not None:
                for engine in self._engines:
                    engine.dispose()
                self._engines = None
