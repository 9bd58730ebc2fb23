"""Empty migrated databases for the tests, fast: PostgreSQL emptied between tests, SQLite
files copied from one migrated once."""

from __future__ import annotations

import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from journeys.store import create_db_engine, create_schema
from journeys.store.tables import metadata

# The schema a fresh migration leaves: (alembic revision, number of columns), per URL.
_MIGRATED: dict[str, tuple[Any, ...]] = {}
_SHAPE = text(
    "SELECT (SELECT string_agg(version_num, ',') FROM alembic_version),"
    " (SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public')"
)


_RESTART_SEQUENCES = (
    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c"
    " WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
)

_SQLITE_TEMPLATE: list[Path] = []


def migrated_sqlite(path: Path) -> str:
    """The URL of a new SQLite file at `path`, at the newest schema.

    Migrating from nothing takes 50-90 ms and most tests want just that: the file is a
    copy of one this process migrated once (a copy takes a millisecond). `create_schema`
    on it then finds the newest revision and does nothing."""
    if not _SQLITE_TEMPLATE:
        template = Path(tempfile.mkdtemp(prefix="journeyflow-schema-")) / "migrated.db"
        engine = create_db_engine(f"sqlite:///{template}")
        create_schema(engine)
        engine.dispose()
        _SQLITE_TEMPLATE.append(template)
    shutil.copyfile(_SQLITE_TEMPLATE[0], path)
    return f"sqlite:///{path}"


def empty_postgres(url: str) -> None:
    """An empty database at the newest schema, as fast as the database allows.

    Most tests leave the schema as migration made it: emptying its tables (DELETE,
    sequences restarted) takes a tiny part of dropping and migrating again. A test that
    changed the schema (a migration test going down a revision, say) leaves another
    revision or other columns behind: then the schema is dropped and made anew."""
    reset = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with reset.connect() as conn:
        shape = None
        if conn.execute(text("SELECT to_regclass('public.alembic_version')")).scalar():
            shape = tuple(conn.execute(_SHAPE).one())
        if shape is not None and shape == _MIGRATED.get(url):
            # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE makes every
            # table a new file (0.2 s for the lot against 0.01 s). Sequences start again
            # at 1, as in a new database.
            # One simple query of several statements: one implicit transaction, one commit.
            deletes = "".join(f'DELETE FROM "{t.name}"; ' for t in reversed(metadata.sorted_tables))
            conn.exec_driver_sql(deletes + _RESTART_SEQUENCES)
        else:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            engine = create_db_engine(url)
            create_schema(engine)
            engine.dispose()
            _MIGRATED[url] = tuple(conn.execute(_SHAPE).one())
    reset.dispose()


def drop_database(admin: Engine, name: str) -> None:
    """Drop a test database, waiting out what may still hold it.

    `WITH (FORCE)` ends our own connections, but PostgreSQL refuses it while one of its
    autovacuum workers (another role) is in the database; such a worker is gone within
    seconds. A database left behind is no failure of the tests: after the last try it
    is named, and left."""
    for attempt in range(20):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError as exc:
            if attempt == 19:
                warnings.warn(f"test database {name} left behind: {exc.orig}", stacklevel=2)
                return
            time.sleep(0.5)
