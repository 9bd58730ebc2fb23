"""Schedule and yearly triggers through the store, on SQLite and PostgreSQL: the timer
sweep enters each customer once per run, however often and however many sweep."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, text

from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    session_scope,
)

if TYPE_CHECKING:
    from conftest import Peek

DIGEST = {
    "journey": "digest",
    "version": 1,
    "name": "Digest",
    "reentry": {"policy": "always"},
    "stages": [
        {"key": "subscribed", "enter_when": {"event": "newsletter.confirmed"}},
        {
            "key": "digest",
            "enter_when": {"every": "0 9 * * MON", "from": ["subscribed"]},
            "on_enter": [{"email": "weekly_digest"}, {"move_to": "subscribed"}],
        },
    ],
    "settings": {"timezone": "Europe/Berlin"},
}
# Monday 2026-03-02 09:00 in Berlin, and the next Mondays.
MONDAY = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _subscribers(
    engine: Engine, make_event: Callable[..., IncomingEvent], n: int
) -> JourneyRegistry:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [Journey.model_validate(DIGEST)])
        events = [
            make_event("newsletter.confirmed", f"c{i}", MONDAY + timedelta(hours=1))
            for i in range(n)
        ]
        apply_events(session, registry, events, MONDAY + timedelta(hours=1))
    return registry


def _digests(engine: Engine) -> list[tuple[str, int]]:
    with engine.connect() as conn:
        return [
            (str(c), int(n))
            for c, n in conn.execute(
                text(
                    "select customer_id, count(*) from stage_transition "
                    "where to_stage = 'digest' group by customer_id"
                )
            )
        ]


def test_a_sweep_run_twice_enters_each_customer_once(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _subscribers(engine, make_event, 30)
    next_monday = MONDAY + timedelta(days=7)
    for _ in range(2):
        with session_scope(engine) as session:
            advance_timers(session, registry, next_monday + timedelta(minutes=5))
    digests = _digests(engine)
    assert len(digests) == 30 and {n for _, n in digests} == {1}
    assert peek.count("action_run") == 30
    # The week after, once more each.
    with session_scope(engine) as session:
        advance_timers(session, registry, next_monday + timedelta(days=7, minutes=5))
    assert {n for _, n in _digests(engine)} == {2}


def test_two_sweeps_at_once_enter_each_customer_once(
    engine: Engine, make_event: Callable[..., IncomingEvent]
) -> None:
    registry = _subscribers(engine, make_event, 60)
    at = MONDAY + timedelta(days=7, minutes=5)
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            for _ in range(3):
                with session_scope(engine) as session:
                    advance_timers(session, registry, at, limit=20)
        except BaseException as exc:  # a lost race must surface, not vanish in a thread
            errors.append(exc)

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # SQLite serialises writers (one may find the database busy and stop: the other
    # finishes); either way no customer is entered twice.
    with session_scope(engine) as session:
        advance_timers(session, registry, at)
    digests = _digests(engine)
    assert len(digests) == 60 and {n for _, n in digests} == {1}, (digests, errors)
