"""A whole simulation: a fresh store, the population, the run, and its figures.

The store is a SQLite file of its own (a temporary one unless a path is given): the
run writes what production writes, and its figures are SQL aggregates over it, so it
lives on disk, not in memory. Nothing in it must survive a power cut, so it is
written without waiting for the disk.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event

from journeys.model import Journey
from journeys.store import JourneyRegistry, create_db_engine, create_schema, session_scope

from ..replay import replay_renderer
from .counting import CountingRules, counting_channels
from .model import BehaviourModel
from .population import Population
from .rendering import RENDER_EVERY, RENDER_FIRST, SampledRenderer
from .results import Results, collect
from .run import HOURLY, Cadence, Progress, run


@dataclass(frozen=True)
class Plan:
    """What to simulate: which journeys, whose behaviour, how many, how long."""

    journeys: Sequence[Journey]
    model: BehaviourModel
    customers: int
    days: int
    seed: int = 7
    cadence: Cadence = HOURLY
    render_first: int = RENDER_FIRST
    render_every: int = RENDER_EVERY


@contextmanager
def simulation_store(database: Path | None = None) -> Iterator[Engine]:
    """A fresh, migrated SQLite store: `database` (replaced), else a temporary file."""
    with tempfile.TemporaryDirectory(prefix="journeyflow-simulation-") as folder:
        path = database if database is not None else Path(folder) / "simulation.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        engine = create_db_engine(f"sqlite:///{path}")

        @event.listens_for(engine, "connect")
        def _fast(dbapi_connection: Any, _record: Any) -> None:
            # After the store's own settings: a simulated store is thrown away or
            # re-made, so a commit need not wait for the disk.
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute("PRAGMA synchronous=OFF")
            finally:
                cursor.close()

        try:
            create_schema(engine)
            yield engine
        finally:
            engine.dispose()


def simulate(
    plan: Plan,
    *,
    database: Path | None = None,
    engine: Engine | None = None,
    templates: Path | None = None,
    progress: Progress | None = None,
) -> Results:
    """Simulate `plan` in a store of its own (`database`, else a temporary SQLite file;
    or `engine`, an empty migrated store of any kind) and return its figures."""
    if engine is not None:
        return _simulate(plan, engine, templates, progress)
    with simulation_store(database) as own:
        return _simulate(plan, own, templates, progress)


def _simulate(
    plan: Plan, engine: Engine, templates: Path | None, progress: Progress | None
) -> Results:
    population = Population(plan.model, plan.customers, plan.days, plan.seed)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, plan.journeys)
    renderer = replay_renderer(plan.journeys, templates, SampledRenderer)
    renderer.sample(plan.render_first, plan.render_every)
    done = run(
        engine,
        registry,
        population,
        start=population.start,
        days=plan.days,
        channels=counting_channels(),
        renderer=renderer,
        rules=CountingRules(),
        cadence=plan.cadence,
        progress=progress,
    )
    counts = (renderer.rendered, renderer.counted)
    return collect(engine, done, plan.journeys, seed=plan.seed, rendered=counts)
