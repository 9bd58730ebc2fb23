"""A population split over processes: the same figures as in one process, one store
that holds every shard's rows with their references intact, and a shard that dies
ends the simulation with an error instead of figures that lack its customers."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.simulation.model import BehaviourModel
from flows.simulation.results import Results
from flows.simulation.run import Cadence, Run, SimulationError
from flows.simulation.shards import DEFAULT_SHARDS, MIN_SHARD, shards_for
from flows.simulation.simulate import Plan, simulate
from journeys.model import Journey

SIX_HOURS = Cadence(timedelta(hours=6))


def _plan(journeys: list[Journey], model: BehaviourModel, **kw: Any) -> Plan:
    # Every message rendered: the sample the renderer takes is the one figure that
    # depends on how the population is split.
    options: dict[str, Any] = {"customers": 200, "days": 12, "cadence": SIX_HOURS, **kw}
    return Plan(journeys, model, render_every=1, **options)


def _figures(results: Results) -> dict[str, Any]:
    return results.model_dump(mode="json", exclude={"seconds"})


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


Simulated = tuple[Results, Path, Results, Path]


@pytest.fixture(scope="module")
def simulated(
    tmp_path_factory: pytest.TempPathFactory,
    shipped_journeys: dict[str, Journey],
    model: BehaviourModel,
) -> Simulated:
    """The same plan in one process and in three shards, each store kept."""
    folder = tmp_path_factory.mktemp("shards")
    journeys = list(shipped_journeys.values())
    alone, split = folder / "alone.db", folder / "split.db"
    return (
        simulate(_plan(journeys, model), database=alone, shards=1),
        alone,
        simulate(_plan(journeys, model), database=split, shards=3),
        split,
    )


def test_three_shards_give_the_figures_of_one_process(simulated: Simulated) -> None:
    alone, _, split, _ = simulated
    assert alone.events > 500 and sum(c.n for c in alone.sent) > 150
    assert _figures(split) == _figures(alone)


def test_the_merged_store_holds_every_shards_rows_with_their_references(
    simulated: Simulated,
) -> None:
    _, alone, _, split = simulated
    tables = [
        "customer",
        "enrollment",
        "stage_transition",
        "inbound_event",
        "action_run",
        "consent",
        "consent_change",
        "promo_code",
        "journey_version",
    ]
    for table in tables:
        assert _rows(split, f"SELECT count(*) FROM {table}") == _rows(
            alone, f"SELECT count(*) FROM {table}"
        ), table
    # Each row still refers to the customer and enrollment it was written for: the
    # same pairs of external customer id and enrollment as in one process.
    pairs = """
        SELECT c.external_id, e.journey, e.number, a.action_key, a.stage_entry, a.status
        FROM action_run a JOIN enrollment e ON e.id = a.enrollment_id
        JOIN customer c ON c.id = a.customer_id AND c.id = e.customer_id
        ORDER BY 1, 2, 3, 4, 5"""
    assert _rows(split, pairs) == _rows(alone, pairs)
    moves = """
        SELECT c.external_id, t.journey, t.from_stage, t.to_stage, t.at
        FROM stage_transition t JOIN enrollment e ON e.id = t.enrollment_id
        JOIN customer c ON c.id = t.customer_id AND c.id = e.customer_id ORDER BY 1, 2, 5, 4"""
    assert _rows(split, moves) == _rows(alone, moves)
    codes = """
        SELECT c.external_id, p.campaign FROM promo_code p JOIN customer c ON c.id = p.customer_id
        ORDER BY 1, 2"""
    assert _rows(split, codes) == _rows(alone, codes)


def test_a_killed_shard_ends_the_simulation_with_an_error(
    tmp_path: Path, shipped_journeys: dict[str, Journey], model: BehaviourModel
) -> None:
    killed: list[int] = []

    def kill_the_others(done: Run) -> None:
        if not killed:
            for process in multiprocessing.active_children():
                if process.name.startswith("simulation-shard-") and process.pid:
                    os.kill(process.pid, signal.SIGKILL)
                    killed.append(process.pid)

    plan = _plan(list(shipped_journeys.values()), model, days=40)
    with pytest.raises(SimulationError, match="ended without its results"):
        simulate(plan, database=tmp_path / "s.db", shards=2, progress=kill_the_others)

    assert len(killed) == 1
    assert not [p for p in multiprocessing.active_children() if p.pid in killed]


def test_the_shards_depend_on_the_plan_not_the_machine() -> None:
    assert shards_for(DEFAULT_SHARDS * MIN_SHARD - 1) == 1
    assert shards_for(DEFAULT_SHARDS * MIN_SHARD) == DEFAULT_SHARDS
    assert shards_for(1_000_000) == DEFAULT_SHARDS
    assert shards_for(500, asked=3) == 3
    assert shards_for(2, asked=8) == 2
