"""Fixtures for the receiver tests: the real service on 127.0.0.1, a real store.

The store is a SQLite file; tests marked `ON_BOTH_STORES` run on PostgreSQL as well, in
a database of their module's own on the server JOURNEYFLOW_TEST_POSTGRES_URL names.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from pg_reset import drop_database, empty_postgres, migrated_sqlite
from receiver_harness import MakeReceiver, Receiver, serving
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from channels.inbound import Inbox, create_app, parse_receiver_config
from channels.links import LinkSigner
from journeys.store import create_db_engine, create_schema
from journeys.tracking import TrackingPlan

PG_ENV = "JOURNEYFLOW_TEST_POSTGRES_URL"


@pytest.fixture(scope="module")
def pg_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    """A database of this module's own on the PostgreSQL server, if one is configured."""
    server = os.environ.get(PG_ENV)
    if not server:
        yield None
        return
    module = request.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    name = f"journeyflow_{module}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)
        admin.dispose()


@pytest.fixture
def store_engine(
    request: pytest.FixtureRequest, tmp_path: Path, pg_url: str | None
) -> Iterator[Engine]:
    """The receiver's store: SQLite, or PostgreSQL for the tests marked ON_BOTH_STORES."""
    if getattr(request, "param", "sqlite") == "sqlite":
        url = migrated_sqlite(tmp_path / "store.db")
    elif pg_url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests must run in CI")
        pytest.skip(f"set {PG_ENV} to run these receiver tests on PostgreSQL too")
    else:
        url = pg_url
        empty_postgres(url)
    engine = create_db_engine(url)
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def link_signer() -> LinkSigner:
    return LinkSigner("test-link-secret-0123456789", "http://127.0.0.1:8000")


@pytest.fixture
def make_receiver(store_engine: Engine) -> Iterator[MakeReceiver]:
    """`make_receiver(config, env=…, clock=…, signer=…)` starts a receiver for that config."""
    with ExitStack() as stack:

        def make(
            config: Mapping[str, Any],
            *,
            env: Mapping[str, str] | None = None,
            clock: Callable[[], datetime] | None = None,
            signer: LinkSigner | None = None,
            plan: TrackingPlan | None = None,
        ) -> Receiver:
            stored: list[int] = []
            inbox = Inbox(
                store_engine,
                on_stored=stored.append,
                clock=clock or (lambda: datetime.now(UTC)),
                plan=plan,
            )
            app = create_app(parse_receiver_config(config, env or {}), inbox, signer=signer)
            url = stack.enter_context(serving(app))
            receiver = Receiver(url, store_engine, inbox, stored)
            stack.callback(receiver.client.close)
            return receiver

        yield make
