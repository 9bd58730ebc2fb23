"""Fixtures for the store tests: a database per test, on SQLite and on PostgreSQL.

PostgreSQL runs when JOURNEYFLOW_TEST_POSTGRES_URL names a server where the role may
create databases: one fresh database per test session (dropped at the end), with the
schema reset before each test. With CI=true the URL is required.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_reset import drop_database, empty_postgres, migrated_sqlite
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.engine import make_url

from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.tables import metadata

PG_ENV = "JOURNEYFLOW_TEST_POSTGRES_URL"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def _pg_session_url() -> Iterator[str | None]:
    server = os.environ.get(PG_ENV)
    if not server:
        yield None
        return
    url = make_url(server)
    name = f"journeyflow_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        from journeys.store import dispose_engines

        dispose_engines()
        drop_database(admin, name)
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Any, _pg_session_url: str | None) -> str:
    """An empty database: a new SQLite file, or the session's PostgreSQL database, reset."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'journeyflow.db'}"
    if _pg_session_url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests must run in CI")
        pytest.skip(f"set {PG_ENV} to run the store tests on PostgreSQL too")
    empty_postgres(_pg_session_url)
    return _pg_session_url


@pytest.fixture(scope="module")
def stores(
    tmp_path_factory: pytest.TempPathFactory, _pg_session_url: str | None
) -> Iterator[list[Engine]]:
    """Two migrated stores side by side for property tests that compare them: SQLite, and
    PostgreSQL when the tests have a server (required with CI=true). Module-scoped, so
    hypothesis examples share them; a test empties them itself."""
    engines = [create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('stores') / 'r.db'}")]
    if _pg_session_url is not None:
        empty_postgres(_pg_session_url)
        engines.append(create_db_engine(_pg_session_url))
    elif os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests must run in CI")
    for engine in engines:
        create_schema(engine)
    yield engines
    for engine in engines:
        engine.dispose()


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated database."""
    if db_url.startswith("sqlite:///"):
        migrated_sqlite(Path(db_url.removeprefix("sqlite:///")))
    engine = create_db_engine(db_url)
    create_schema(engine)
    yield engine
    engine.dispose()


# --- journeys ------------------------------------------------------------------------------

ONBOARDING: dict[str, Any] = {
    "journey": "onboarding",
    "version": 1,
    "name": "Onboarding",
    "stages": [
        {
            "key": "signup",
            "enter_when": {"event": "account.created"},
            "on_enter": [{"email": "welcome"}, {"after": "2d", "email": "nudge"}],
        },
        {
            "key": "active",
            "enter_when": {"event": "order.completed"},
            "on_enter": [{"email": "thanks"}, {"set_attribute": {"buyer": True}}],
        },
        {
            "key": "loyal",
            "enter_when": {"event": "review.submitted", "where": "rating >= 4"},
        },
        {
            "key": "dormant",
            "enter_when": {"no_event_for": "30d", "from": ["active", "loyal"]},
            "on_enter": [{"sms": "we_miss_you"}],
            "final": True,
        },
    ],
    "exit": [{"event": "account.deleted"}],
}


def _journey(**changes: Any) -> Journey:
    return Journey.model_validate({**ONBOARDING, **changes})


@pytest.fixture
def make_journey() -> Callable[..., Journey]:
    """The onboarding journey, with top-level fields replaced: make_journey(version=2)."""
    return _journey


@pytest.fixture
def registry(engine: Engine) -> JourneyRegistry:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [_journey()])
    return registry


# --- events --------------------------------------------------------------------------------

_ids = itertools.count(1)


def _event(
    type: str,
    customer: str = "c1",
    at: datetime | timedelta = timedelta(0),
    *,
    source: str = "shop",
    external_id: str | None = None,
    profile: dict[str, Any] | None = None,
    **data: Any,
) -> IncomingEvent:
    """An event; `at` is a time or an offset from T0."""
    return IncomingEvent(
        source=source,
        external_id=external_id or f"ev-{next(_ids)}",
        type=type,
        customer_id=customer,
        occurred_at=T0 + at if isinstance(at, timedelta) else at,
        data=data,
        customer=profile,
    )


@pytest.fixture
def make_event() -> Callable[..., IncomingEvent]:
    """make_event(type, customer="c1", at=offset from T0 or a time, profile=…, **data)."""
    return _event


@pytest.fixture
def t0() -> datetime:
    """The time `make_event` offsets count from."""
    return T0


class Peek:
    """Reads tables as committed, independently of the code under test."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count(self, table: str) -> int:
        query = select(func.count()).select_from(metadata.tables[table])
        with self.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def rows(self, table: str, *order_by: str) -> list[dict[str, Any]]:
        t = metadata.tables[table]
        query = select(t).order_by(*(t.c[c] for c in order_by or ("id",)))
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in sorted(metadata.tables)}


@pytest.fixture
def peek(engine: Engine) -> Peek:
    return Peek(engine)
