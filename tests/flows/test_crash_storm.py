"""Nothing lost, nothing twice: dispatchers on the production path killed at random.

The same storm and the same checks (`crash_storm.check`) at two sizes: the one CI runs
here, and the size of the guarantee under the `storm` marker (run with
`pytest -m storm -s -n 0 tests/flows/test_crash_storm.py`; the README lists the figures):

- every action ends `sent`, `unknown` or `failed` for a reason of its own;
- no key reaches the provider twice, none is `failed` without reaching it;
- `failed` only after `max_attempts` refusals, exactly the keys the refusal rate says;
- `unknown` only for a late answer or a request in flight at a kill.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from crash_storm import Outcome, Storm, check, postgres_database, reconcile, run

PG_ENV = "JOURNEYFLOW_TEST_POSTGRES_URL"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with postgres_database("journeyflow_storm") as url:
        yield url


def _storm(url: str, storm: Storm, tmp_path: Path, name: str) -> Outcome:
    outcome = run(url, storm, tmp_path)
    print(f"\n{name}: {json.dumps(outcome.figures())}")
    check(outcome)
    return outcome


def _reconciled(url: str, outcome: Outcome) -> None:
    """The provider's delivery reports settle every unknown message it took as sent:
    what stays unknown never reached it (killed between the mark and the request)."""
    statuses = reconcile(url, outcome)
    taken = {k for k, h in outcome.fates.items() if "ok" in h or "slow" in h}
    assert {k for k, s in statuses.items() if s == "sent"} == taken
    never = {k for k, s in statuses.items() if s == "unknown"}
    assert never == set(statuses) - taken - {k for k, s in statuses.items() if s == "failed"}
    print(f"reconciled: {len(taken)} sent, {len(never)} unknown that never reached the provider")


# A clock 60 times faster than the wall's: a 60 s lease passes in a second, and so does
# the first retry's backoff of a minute.
FAST = {"speed": 60.0, "lease": 60.0}


def test_killed_dispatchers_lose_nothing_and_send_nothing_twice(tmp_path: Path) -> None:
    storm = Storm(messages=500, kills=8, kill_after=(0.05, 0.6), latency=0.03, **FAST)
    _storm(f"sqlite:///{tmp_path / 'storm.db'}", storm, tmp_path, "storm, SQLite")


def test_kills_among_refusals_and_late_answers(tmp_path: Path) -> None:
    storm = Storm(
        messages=400,
        kills=6,
        kill_after=(0.05, 0.6),
        latency=0.02,
        # Three sends before giving up (backoff 1 + 2 minutes of the fast clock): at 20 %
        # refusals about 1 in 125 messages gives up, so the prediction is tested too.
        max_attempts=3,
        refuse=0.2,
        slow=0.03,
        timeout=0.25,
        **FAST,
    )
    _storm(f"sqlite:///{tmp_path / 'faults.db'}", storm, tmp_path, "storm with faults, SQLite")


def test_a_lease_sized_to_a_chunk_loses_no_message_of_a_slow_provider(tmp_path: Path) -> None:
    """Kills 0.6 s into each run while the provider takes 0.2 s per request: a killed
    dispatcher leaves most of its batch waiting, which costs those messages nothing."""
    storm = Storm(
        messages=60, kills=4, kill_after=(0.6, 0.6), lease=2.0, latency=0.2, batch_size=200
    )
    url = f"sqlite:///{tmp_path / 'slow.db'}"
    outcome = _storm(url, storm, tmp_path, "slow provider, SQLite")
    assert "failed" not in {s for s, _, _ in outcome.statuses.values()}
    _reconciled(url, outcome)


@pytest.mark.postgres
def test_four_dispatchers_on_postgres_killed_at_random(postgres_url: str, tmp_path: Path) -> None:
    storm = Storm(messages=400, kills=5, workers=4, kill_after=(0.05, 0.6), latency=0.1, **FAST)
    _storm(postgres_url, storm, tmp_path, "storm, PostgreSQL, 4 dispatchers")


# --- the size of the guarantee (pytest -m storm -n 0) ---------------------------------


@pytest.mark.storm
def test_storm_sqlite_20000_messages_200_kills(tmp_path: Path) -> None:
    # The provider answers in 50 ms: the 20,000 messages last through the 200 kills.
    storm = Storm(messages=20_000, kills=200, latency=0.05, deadline=3600, **FAST)
    _storm(f"sqlite:///{tmp_path / 'storm.db'}", storm, tmp_path, "storm, SQLite, full size")


@pytest.mark.storm
def test_storm_faults_3000_messages_40_kills(tmp_path: Path) -> None:
    storm = Storm(
        messages=3000,
        kills=40,
        refuse=0.2,
        slow=0.03,
        timeout=0.25,
        latency=0.02,
        deadline=3600,
        **FAST,
    )
    _storm(f"sqlite:///{tmp_path / 'faults.db'}", storm, tmp_path, "storm with faults, full size")


@pytest.mark.storm
@pytest.mark.postgres
def test_storm_postgres_4_dispatchers_4000_messages(postgres_url: str, tmp_path: Path) -> None:
    storm = Storm(messages=4000, kills=50, workers=4, latency=0.2, deadline=3600, **FAST)
    _storm(postgres_url, storm, tmp_path, "storm, PostgreSQL, 4 dispatchers, full size")


@pytest.mark.storm
def test_storm_the_reported_reproduction(tmp_path: Path) -> None:
    """400 due emails, lease 5 s, provider latency 0.5 s, 5 kills each 1.2 s after the
    dispatcher is ready, then one clean run: 400 sent, none failed."""
    storm = Storm(messages=400, kills=5, kill_after=(1.2, 1.2), lease=5.0, latency=0.5)
    url = f"sqlite:///{tmp_path / 'repro.db'}"
    outcome = _storm(url, storm, tmp_path, "reproduction")
    assert "failed" not in {s for s, _, _ in outcome.statuses.values()}
    _reconciled(url, outcome)
