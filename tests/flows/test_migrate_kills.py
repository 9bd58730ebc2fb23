"""`journeyflow migrate` survives SIGKILL: child processes migrating a file store are
killed at random moments mid-way and run again; afterwards every enrollment the
migration covers moved exactly once (one migration transition each), and every action
is where the rules put it, none lost or doubled (`migration_kills.check`).

A few kills here, at a size CI runs; a storm under the `storm` marker
(`pytest -m storm -s -n 0 tests/flows/test_migrate_kills.py`).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from migration_kills import check, kill_runs, populate, project, snapshot


def _kills(tmp_path: Path, customers: int, kills: int, batch_size: int, seed: int) -> None:
    url = f"sqlite:///{tmp_path / 'kills.db'}"
    journeys = project(tmp_path)
    populate(url, customers, datetime.now(UTC) - timedelta(hours=1), register_v2=True)
    before = snapshot(url)
    covered = sum(e["status"] == "active" and e["stage"] != "legacy" for e in before["enrollment"])
    env = {
        **os.environ,
        "JOURNEYFLOW_DATABASE_URL": url,
        "JOURNEYFLOW_JOURNEYS": str(journeys),
        "PYTHONUNBUFFERED": "1",
    }

    counts, output = kill_runs(url, env, kills, batch_size, seed)

    print(f"\nmigrated after each kill: {counts} of {covered}")
    # Each kill landed mid-way: some moved, not all; each run went on from the last.
    assert all(0 < n < covered for n in counts), counts
    assert counts == sorted(counts)
    assert "to version 2" in output
    check(before, snapshot(url), datetime.now(UTC))


def test_a_killed_migration_run_again_moves_everyone_exactly_once(tmp_path: Path) -> None:
    _kills(tmp_path, customers=2400, kills=3, batch_size=10, seed=14)


@pytest.mark.storm
def test_a_storm_of_kills(tmp_path: Path) -> None:
    _kills(tmp_path, customers=40_000, kills=30, batch_size=100, seed=2026)
