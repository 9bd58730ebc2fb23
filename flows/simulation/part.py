"""What a simulation runs, and one part of its population run in a store of its own.

A `Plan` says what to simulate. `run_part` runs the customers of one shard of the
plan's population (all of them when there is one shard) through the journeys in a
store, with the production engine, send rules and renderer, and returns the run and
how many messages were rendered and counted. `simulation_store` makes such a store.
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
from .defaults import RENDER_EVERY, RENDER_FIRST
from .model import BehaviourModel
from .population import Population
from .rendering import SampledRenderer
from .run import HOURLY, Cadence, Progress, Run, run


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
    """A fresh, migrated SQLite store: `database` (replaced, and kept), else a
    temporary file.

    The run writes what production writes, and its figures are SQL aggregates over it,
    so it lives on disk, not in memory. Nothing in it must survive a power cut, so it
    is written without waiting for the disk."""
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


def run_part(
    plan: Plan,
    engine: Engine,
    *,
    shard: tuple[int, int] = (0, 1),
    templates: Path | None = None,
    progress: Progress | None = None,
) -> tuple[Run, tuple[int, int]]:
    """Shard `shard` = (k, n) of the plan's population through its journeys in
    `engine` (an empty migrated store); the run, and (rendered, counted) messages."""
    population = Population(plan.model, plan.customers, plan.days, plan.seed, shard=shard)
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
        reactions=None if plan.model.messages is None else plan.model.messages.reactions(plan.seed),
    )
    return done, (renderer.rendered, renderer.counted)
