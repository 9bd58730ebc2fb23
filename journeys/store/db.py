"""The one owner of the database engine and its sessions.

SQLite (the default) is tuned for several processes sharing one file: WAL, a generous
busy timeout, and writers that take the write lock when their transaction begins
(`BEGIN IMMEDIATE`), so that two writers never deadlock while upgrading a read lock.
PostgreSQL is reached through psycopg 3.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import URL, Connection
from sqlmodel import Session

from ..errors import StoreError
from .sql import LOCK_NAMESPACE

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///var/journeyflow.db"
URL_ENV = "JOURNEYFLOW_DATABASE_URL"
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

# Read-only sessions on SQLite start a deferred transaction, so reports never wait
# for the write lock; everything else begins IMMEDIATE.
_SQLITE_BEGIN = "journeyflow_sqlite_begin"

_engines: dict[str, Engine] = {}
_engines_lock = threading.Lock()

_json_dumps = partial(json.dumps, separators=(",", ":"), ensure_ascii=False, default=str)


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else JOURNEYFLOW_DATABASE_URL, else the SQLite default."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def _normalise(raw: str) -> URL:
    try:
        url = make_url(raw)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a terse message
        raise StoreError(f"cannot parse database URL '{raw}': {exc}") from None
    if url.drivername in ("postgres", "postgresql"):
        # psycopg 3 is the driver the project installs; psycopg2 is not a dependency.
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise StoreError(
            f"unsupported database '{url.get_backend_name()}' in '{url.render_as_string()}'; "
            "use sqlite:///path/to/file.db or postgresql+psycopg://user:password@host/db"
        )
    return url


def get_engine(url: str | None = None) -> Engine:
    """The engine for `url` (see `database_url`), created once per process and URL."""
    key = database_url(url)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = create_db_engine(key)
        return engine


def dispose_engines() -> None:
    """Close every pooled connection (tests, forks, shutdown)."""
    with _engines_lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()


def create_db_engine(raw_url: str) -> Engine:
    """A new engine for the URL; prefer `get_engine`, which shares one per process."""
    url = _normalise(raw_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    return create_engine(
        url,
        pool_pre_ping=True,
        json_serializer=_json_dumps,
        # Timestamps come back in UTC whatever the server's default time zone is.
        connect_args={"options": "-c timezone=UTC"},
    )


def _sqlite_engine(url: URL) -> Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, json_serializer=_json_dumps)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when a transaction begins (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            # FULL: a commit is on disk before it returns. With NORMAL a power cut can
            # undo the last commits, among them a send's mark or a webhook already
            # answered 2xx: the mark lost, the message would go out a second time.
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(_SQLITE_BEGIN, "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def session_scope(engine: Engine | None = None, *, readonly: bool = False) -> Iterator[Session]:
    """One transaction: commit when the block ends, roll back if it raises.

    `readonly=True` suits reports: on SQLite it does not take the write lock.
    """
    bind = engine or get_engine()
    if readonly and is_sqlite(bind):
        bind = bind.execution_options(**{_SQLITE_BEGIN: "DEFERRED"})
    session = Session(bind, expire_on_commit=False)
    try:
        yield session
        if not readonly:
            session.commit()
        # A read-only session ends in close(): it rolls back without expiring what was read.
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration for the store's migrations; no alembic.ini involved.

    With `connection`, migrations run on it, inside its transaction.
    """
    from alembic.config import Config  # alembic loads only when migrations run

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def create_schema(engine: Engine | None = None) -> None:
    """Bring the database to the newest schema: alembic `upgrade head`, in one transaction."""
    from alembic import command

    bind = engine or get_engine()
    with bind.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting at once must not both create the tables.
            conn.execute(text("SELECT pg_advisory_xact_lock(:ns, 0)"), {"ns": LOCK_NAMESPACE})
        command.upgrade(alembic_config(conn), "head")
