"""A/B counts from the store: recipients and conversions per variant, on both databases,
equal to what the population's plan says (computed here in plain Python)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta

import pytest
from ab_factory import WITHIN, Population, ab_journey, build
from pg_reset import empty_postgres, migrated_sqlite
from sqlalchemy import Engine

from journeys.model import AbEventMetric
from journeys.store import create_db_engine, create_schema, session_scope
from journeys.store.abtests import arm_counts

PG_ENV = "JOURNEYFLOW_TEST_POSTGRES_URL"  # as in tests/journeys/store/conftest.py
METRIC_OF = {
    "goal": "goal",
    "click": "click",
    "redemption": "redemption",
    "review": AbEventMetric(event="review.submitted"),
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def built(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    _pg_session_url: str | None,
) -> Iterator[tuple[Engine, Population]]:
    """One population per database for the whole module: its tests only read it."""
    if request.param == "sqlite":
        url = migrated_sqlite(tmp_path_factory.mktemp("ab") / "journeyflow.db")
    elif _pg_session_url is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests must run in CI")
        pytest.skip(f"set {PG_ENV} to run the store tests on PostgreSQL too")
    else:
        empty_postgres(_pg_session_url)
        url = _pg_session_url
    engine = create_db_engine(url)
    create_schema(engine)
    yield engine, build(engine, ab_journey(), 160)
    engine.dispose()


@pytest.fixture
def engine(built: tuple[Engine, Population]) -> Engine:
    return built[0]


@pytest.fixture
def population(built: tuple[Engine, Population]) -> Population:
    return built[1]


def counted(engine: Engine, metric: str, **kw: object) -> dict[str, tuple[int, int]]:
    window = kw.pop("within", WITHIN)
    with session_scope(engine, readonly=True) as session:
        conn = session.connection()
        metric_ = METRIC_OF[metric]
        arms = arm_counts(conn, "welcome_ab", "signup", "welcome", metric_, window, **kw)  # type: ignore[arg-type]
    return {a.variant: (a.recipients, a.conversions) for a in arms}


@pytest.mark.parametrize("metric", sorted(METRIC_OF))
def test_every_metric_counts_what_the_plan_says(
    engine: Engine, population: Population, metric: str
) -> None:
    expected = population.expected(metric)
    assert counted(engine, metric) == expected
    # The population is varied enough for the comparison to mean something.
    assert set(expected) == {"plain", "bonus", "holdout"}
    assert sum(c for _, c in expected.values()) > 5
    assert any(not p.reached for p in population.people)


def test_the_holdout_counts_recipients_the_message_would_have_reached(
    engine: Engine, population: Population
) -> None:
    holdout = [p for p in population.people if p.variant == "holdout"]
    reached = [p for p in holdout if p.fate in ("recipient", "failed")]
    assert counted(engine, "goal")["holdout"][0] == len(reached)
    # Customers without consent, or who left before the send, are in no group.
    assert len(reached) < len(holdout)


def test_the_window_ends_exactly_within_after_the_send(
    engine: Engine, population: Population
) -> None:
    last, first_out = WITHIN, WITHIN + timedelta(microseconds=1)
    edge = [p for p in population.people if p.reached and p.converts["goal"] is not None]
    offsets = {p.converts["goal"] - p.due for p in edge}  # type: ignore[operator]
    assert {last, first_out} <= offsets
    shorter = WITHIN - timedelta(days=1)
    assert counted(engine, "goal", within=shorter) == population.expected("goal", shorter)


def test_a_period_counts_the_customers_assigned_in_it(
    engine: Engine, population: Population
) -> None:
    dues = sorted(p.due for p in population.people)
    since, until = dues[30], dues[110]
    got = counted(engine, "review", since=since, until=until)
    assert got == population.expected("review", since=since, until=until)
    assert sum(n for n, _ in got.values()) < sum(n for n, _ in counted(engine, "review").values())
