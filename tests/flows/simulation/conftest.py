"""Fixtures for the simulation tests: the shipped journeys and model, stores on SQLite
and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
from crash_storm import postgres_database
from pg_reset import empty_postgres
from sqlalchemy import Engine

from flows.simulation.model import SHIPPED_MODEL, BehaviourModel, load_model
from flows.simulation.simulate import simulation_store
from journeys.config import SHIPPED_DEFINITIONS
from journeys.loader import journey_files, load_journey
from journeys.model import Journey
from journeys.store import create_db_engine

DEMO_SET = ("customer_lifecycle", "newsletter_opt_in")
Stores = Callable[[], AbstractContextManager[Engine]]


@pytest.fixture(scope="session")
def shipped_journeys() -> dict[str, Journey]:
    return {j.journey: j for j in map(load_journey, journey_files([SHIPPED_DEFINITIONS]))}


@pytest.fixture(scope="session")
def demo_set(shipped_journeys: dict[str, Journey]) -> list[Journey]:
    return [shipped_journeys[key] for key in DEMO_SET]


@pytest.fixture(scope="session")
def model() -> BehaviourModel:
    return load_model(SHIPPED_MODEL)[0]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stores(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stores]:
    """Fresh, migrated stores: SQLite files, or one PostgreSQL database emptied each time."""
    if request.param == "sqlite":
        folder = tmp_path_factory.mktemp("simulation")
        made = iter(range(1_000_000))

        @contextmanager
        def sqlite() -> Iterator[Engine]:
            with simulation_store(Path(folder) / f"s{next(made)}.db") as engine:
                yield engine

        yield sqlite
        return
    with postgres_database("journeyflow_simulation") as url:

        @contextmanager
        def postgres() -> Iterator[Engine]:
            empty_postgres(url)
            engine = create_db_engine(url)
            try:
                yield engine
            finally:
                engine.dispose()

        yield postgres
