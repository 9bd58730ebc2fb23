"""Exactly once up to the provider, with real processes, a real database and the real
SendGrid SDK against a local server that counts every request by idempotency key.

Here: several dispatchers at once over the same database, each claim taken once.
Dispatchers killed at random among refusals and late answers: `test_crash_storm.py`.

DESIGN.md's guarantee: every action at most once per (enrollment, stage entry, action);
a send whose outcome is unknown is marked `unknown`, never blindly repeated.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from journeys.config import PROJECT_ROOT
from journeys.store import (
    create_db_engine,
)
from journeys.store.tables import action_run_t

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "channels"))
import dispatcher_process
from crash_storm import CountingSendGrid, postgres_database, sign_up
from forked import Forked, preload

PG_ENV = "JOURNEYFLOW_TEST_POSTGRES_URL"
preload("dispatcher_process")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEY = """\
journey: exactly_once
version: 1
name: Exactly once
locale: de
settings:
  sender: {email: service@beispielhandel.de, name: Beispielhandel}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter: [{email: buying_guide}]
    final: true
"""


@pytest.fixture
def provider() -> Iterator[CountingSendGrid]:
    fake = CountingSendGrid().start()
    assert isinstance(fake, CountingSendGrid)
    yield fake
    fake.stop()


# --- the database ----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'exactly_once.db'}"
        return
    with postgres_database("journeyflow_once") as url:
        yield url


def _prepare(url: str, n: int) -> None:
    """n customers, each with one marketing email due at T0, through the real store."""
    sign_up(url, n, JOURNEY)


def _statuses(url: str) -> dict[str, str]:
    engine = create_db_engine(url)
    try:
        query = select(action_run_t.c.idempotency_key, action_run_t.c.status)
        with engine.connect() as conn:
            return {key: status for key, status in conn.execute(query)}
    finally:
        engine.dispose()


# --- dispatcher processes --------------------------------------------------------------


class Dispatcher:
    """A dispatcher process, forked from the fork server (`forked.py`)."""

    def __init__(self, argv: list[str]) -> None:
        self.forked = Forked(dispatcher_process.main, argv)

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        last = self.forked.finish(timeout)
        assert last.startswith("{"), f"dispatcher failed: {last}"
        return dict(json.loads(last))


def _start(
    url: str, provider: CountingSendGrid, now: datetime, *options: str | float
) -> Dispatcher:
    """A dispatcher process, sending what is due at `now`."""
    return Dispatcher([url, provider.url, now.isoformat(), *(str(o) for o in options)])


def _settled_figures(
    statuses: dict[str, str], provider: CountingSendGrid
) -> tuple[Counter[str], list[str], list[str]]:
    """(statuses counted, keys delivered twice or more, keys the store does not know)."""
    delivered = provider.delivered()
    twice = sorted(k for k, n in delivered.items() if n > 1)
    strangers = sorted(set(delivered) - set(statuses))
    return Counter(statuses.values()), twice, strangers


# --- dispatchers in parallel --------------------------------------------------------

PARALLEL_MESSAGES = 600


@pytest.mark.parametrize("workers", [2, 4])
def test_parallel_dispatchers_claim_each_action_once(
    db_url: str, provider: CountingSendGrid, workers: int
) -> None:
    _prepare(db_url, PARALLEL_MESSAGES)
    now = T0 + timedelta(minutes=1)
    options = ("--batch-size", 10, "--lease", 600)
    dispatchers = [
        _start(db_url, provider, now, *options, "--worker", f"w{i}") for i in range(workers)
    ]
    reports = [d.finish() for d in dispatchers]

    statuses = _statuses(db_url)
    counted, twice, strangers = _settled_figures(statuses, provider)
    received = provider.received()
    claimed = [r["claimed"] for r in reports]
    figures = (
        f"workers={workers} claimed per worker={claimed} messages={sum(received.values())} "
        f"duplicates={len(twice)} statuses={dict(counted)}"
    )
    print(f"\nparallel dispatchers: {figures}")

    assert not twice, f"claimed and sent twice: {twice[:10]} {figures}"
    assert not strangers, strangers[:10]
    assert counted == Counter({"sent": PARALLEL_MESSAGES}), figures
    assert set(received) == set(statuses), figures
    assert sum(claimed) == PARALLEL_MESSAGES, f"an action was claimed twice: {figures}"
    assert all(r["stale"] == 0 for r in reports), reports
