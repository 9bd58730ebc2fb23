"""Fixtures for the scenario tests: the shipped suite, and stores on SQLite and PostgreSQL.

Scenarios run in memory (SQLite) by default; `PostgresStores` gives each scenario an
emptied PostgreSQL database instead, so the same scenarios prove the runner on both.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from crash_storm import postgres_database
from sqlalchemy import Engine, text

from flows.scenarios.runner import Kit
from flows.scenarios.stores import MemoryStores, StoreFactory
from flows.scenarios.suite import Suite, load_suite, scenario_files
from journeys.config import SHIPPED_DEFINITIONS, SHIPPED_SCENARIOS, templates_dir
from journeys.store import create_db_engine, create_schema
from journeys.store.tables import metadata


class PostgresStores:
    """One migrated PostgreSQL database, emptied before each scenario."""

    def __init__(self, url: str) -> None:
        self.engine = create_db_engine(url)
        with self.engine.begin() as conn:
            # A throwaway database: commits need not wait for the disk.
            name = conn.execute(text("SELECT current_database()")).scalar_one()
            conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
        self.engine.dispose()
        create_schema(self.engine)
        # DELETE, not TRUNCATE: a scenario leaves a few rows, and TRUNCATE rewrites
        # every table's files.
        self._empty = [text(f'DELETE FROM "{t.name}"') for t in reversed(metadata.sorted_tables)]

    @contextmanager
    def __call__(self) -> Iterator[Engine]:
        with self.engine.begin() as conn:
            for statement in self._empty:
                conn.execute(statement)
        yield self.engine


@pytest.fixture(scope="module")
def shipped() -> Suite:
    """The shipped journeys with their shipped scenario files."""
    files = scenario_files([SHIPPED_SCENARIOS])
    return load_suite(files, SHIPPED_DEFINITIONS, templates_dir())


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stores(request: pytest.FixtureRequest) -> Iterator[StoreFactory]:
    if request.param == "sqlite":
        memory = MemoryStores()
        yield memory
        memory.close()
        return
    with postgres_database("journeyflow_scenarios") as url:
        factory = PostgresStores(url)
        yield factory
        factory.engine.dispose()


@pytest.fixture
def kit(shipped: Suite, stores: StoreFactory) -> Iterator[Kit]:
    made = Kit(shipped.journeys.values(), shipped.templates, stores)
    yield made
    made.close()


@pytest.fixture
def write(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write a scenario file into tmp_path; returns its path."""

    def put(text: str, name: str = "scenarios.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return put
