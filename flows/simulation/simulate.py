"""A whole simulation: a fresh store, the population, the run, and its figures.

The store is a SQLite file of its own (a temporary one unless a path is given; see
`part.simulation_store`). A population of a few thousand customers or more runs in
shards, one process each (`shards`), whose stores are merged into that one before
the figures are computed over it.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from sqlalchemy import Engine

from .part import Plan, run_part, simulation_store
from .results import Results, collect
from .run import Progress, Run
from .shards import run_sharded, shards_for

__all__ = ["Plan", "simulate", "simulation_store"]


def simulate(
    plan: Plan,
    *,
    database: Path | None = None,
    engine: Engine | None = None,
    templates: Path | None = None,
    progress: Progress | None = None,
    shards: int | None = None,
) -> Results:
    """Simulate `plan` in a store of its own (`database`, else a temporary SQLite file;
    or `engine`, an empty migrated store of any kind, in this process alone) and
    return its figures. `shards`: how many processes share the population (default:
    `shards.shards_for`)."""
    if engine is not None:
        done, rendered = run_part(plan, engine, templates=templates, progress=progress)
        return _results(plan, engine, done, rendered)
    count = shards_for(plan.customers, shards)
    if count == 1:
        with simulation_store(database) as own:
            done, rendered = run_part(plan, own, templates=templates, progress=progress)
            return _results(plan, own, done, rendered)
    with (
        tempfile.TemporaryDirectory(prefix="journeyflow-shards-") as folder,
        simulation_store(database) as own,
    ):
        done, rendered = run_sharded(
            plan, count, own, Path(folder), templates=templates, progress=progress
        )
        return _results(plan, own, done, rendered)


def _results(plan: Plan, engine: Engine, done: Run, rendered: tuple[int, int]) -> Results:
    return collect(engine, done, plan.journeys, seed=plan.seed, rendered=rendered)
