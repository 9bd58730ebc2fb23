"""Engine and sessions: URLs, SQLite tuning, transactions, UTC timestamps."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import StatementError

from journeys.errors import StoreError
from journeys.store import (
    Customer,
    create_db_engine,
    database_url,
    dispose_engines,
    get_engine,
    session_scope,
)
from journeys.store.db import URL_ENV


def test_the_url_comes_from_the_environment_or_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    assert database_url() == "sqlite:///var/journeyflow.db"
    monkeypatch.setenv(URL_ENV, "sqlite:///elsewhere.db")
    assert database_url() == "sqlite:///elsewhere.db"
    assert database_url("sqlite:///given.db") == "sqlite:///given.db"


def test_the_default_database_folder_is_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(URL_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    try:
        engine = get_engine()
        assert get_engine() is engine  # one engine per URL and process
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        assert (tmp_path / "var" / "journeyflow.db").exists()
    finally:
        dispose_engines()


def test_postgres_urls_use_psycopg_and_others_are_refused() -> None:
    engine = create_db_engine("postgresql://u:p@localhost:5432/jf")  # connects lazily
    assert engine.dialect.driver == "psycopg"
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        create_db_engine("mysql://u:p@localhost/jf")


def test_sqlite_is_tuned_for_several_processes(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
        }
    assert pragmas == {
        "journal_mode": "wal",
        "busy_timeout": 30000,
        "synchronous": 2,  # FULL: a commit survives a power cut
        "foreign_keys": 1,
    }


def test_sqlite_writers_take_the_write_lock_when_they_begin(engine: Engine, tmp_path: Path) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite locking")
    path = engine.url.database
    assert path is not None
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with session_scope(engine) as session:
        session.connection()  # has begun, has not written anything yet
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        with session_scope(engine, readonly=True) as reader:  # readers are not blocked
            assert reader.exec(select(Customer)).all() == []
    other.execute("BEGIN IMMEDIATE")
    other.execute("ROLLBACK")
    other.close()


def test_session_scope_commits_or_rolls_back(engine: Engine) -> None:
    with session_scope(engine) as session:
        session.add(Customer(external_id="kept"))
    with pytest.raises(RuntimeError), session_scope(engine) as session:
        session.add(Customer(external_id="dropped"))
        session.flush()
        raise RuntimeError
    with session_scope(engine, readonly=True) as session:
        assert [c.external_id for c in session.exec(select(Customer)).scalars()] == ["kept"]


def test_timestamps_read_back_aware_in_utc(engine: Engine) -> None:
    berlin = timezone(timedelta(hours=2))
    written = datetime(2026, 6, 1, 12, 30, 15, 250, tzinfo=berlin)
    with session_scope(engine) as session:
        session.add(Customer(external_id="c1", created_at=written, updated_at=written))
    with session_scope(engine, readonly=True) as session:
        customer = session.exec(select(Customer)).scalars().one()
    assert customer.created_at == written
    assert customer.created_at.tzinfo is UTC
    assert customer.created_at.hour == 10


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with pytest.raises(StatementError, match="naive datetime"), session_scope(engine) as session:
        session.add(Customer(external_id="c1", created_at=datetime(2026, 6, 1, 12, 0)))
        session.flush()
