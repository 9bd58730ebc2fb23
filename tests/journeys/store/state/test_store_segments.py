"""Segment entries through the store, on SQLite and PostgreSQL: a customer enters when
a change makes the segment true, or when time does (the segment timer the sweep reads);
a sweep run twice, or two at once, enters each customer once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

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

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

WINBACK: dict[str, Any] = {
    "journey": "winback",
    "version": 1,
    "name": "Win back",
    "reentry": {"policy": "after_cooldown", "cooldown": "30d"},
    "stages": [
        {
            "key": "lapsed",
            "enter_when": {"segment": "customer.last_order_at < now - 90d and orders_total >= 3"},
            "on_enter": [{"email": "we_miss_you"}],
        },
        {"key": "back", "enter_when": {"event": "order.completed"}, "final": True},
    ],
}
VIP: dict[str, Any] = {
    "journey": "vip",
    "version": 1,
    "name": "VIP",
    "stages": [
        {
            "key": "welcome",
            "enter_when": {"segment": "orders_total >= 3 and country == 'DE'"},
            "on_enter": [{"email": "vip_welcome"}],
        },
        {"key": "done", "enter_when": {"after": "1d", "from": ["welcome"]}, "final": True},
    ],
}


def _registry(engine: Engine, *definitions: dict[str, Any]) -> JourneyRegistry:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [Journey.model_validate(d) for d in definitions])
    return registry


def _order(
    make_event: Callable[..., IncomingEvent], customer: str, at: datetime, total: int
) -> IncomingEvent:
    profile = {
        "country": "DE",
        "attributes": {"orders_total": total, "last_order_at": at.isoformat()},
    }
    return make_event("order.completed", customer, at, profile=profile)


def _entered(engine: Engine, journey: str) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select c.external_id, count(*) from enrollment e join customer c "
                "on c.id = e.customer_id where e.journey = :j group by c.external_id"
            ),
            {"j": journey},
        )
        return {str(c): int(n) for c, n in rows}


def test_a_change_that_makes_the_segment_true_enters_the_customer_once(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _registry(engine, VIP)
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, "c1", T, 2)], T)
    assert _entered(engine, "vip") == {}
    update = make_event(
        "customer.updated",
        "c1",
        T + timedelta(hours=1),
        profile={"attributes": {"orders_total": 3}},
    )
    later = make_event("page.viewed", "c1", T + timedelta(hours=2))
    with session_scope(engine) as session:
        apply_events(session, registry, [update], T + timedelta(hours=1))
        apply_events(session, registry, [later], T + timedelta(hours=2))
    assert _entered(engine, "vip") == {"c1": 1}
    assert [r["template"] for r in peek.rows("action_run", "id")] == ["vip_welcome"]
    # No time in the condition: nothing for the sweep to keep.
    assert peek.count("segment_timer") == 0


def test_time_makes_the_segment_true_at_the_moment_the_store_keeps(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _registry(engine, WINBACK)
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, "c1", T, 3)], T)
    [timer] = peek.rows("segment_timer", "id")
    assert timer["due_at"] == T + timedelta(days=90, microseconds=1)
    with session_scope(engine) as session:
        advance_timers(session, registry, T + timedelta(days=89))
    assert _entered(engine, "winback") == {}
    with session_scope(engine) as session:
        advance_timers(session, registry, T + timedelta(days=91))
    assert _entered(engine, "winback") == {"c1": 1}
    assert peek.count("segment_timer") == 0
    [entered] = peek.rows("enrollment", "id")
    assert entered["entered_at"] == T + timedelta(days=90, microseconds=1)


def test_a_change_that_moves_the_date_moves_the_timer(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _registry(engine, WINBACK)
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, "c1", T, 3)], T)
        later = T + timedelta(days=60)
        apply_events(session, registry, [_order(make_event, "c1", later, 4)], later)
    # The second order ended nothing (not enrolled) and moved the moment on.
    [timer] = peek.rows("segment_timer", "id")
    assert timer["due_at"] == later + timedelta(days=90, microseconds=1)
    with session_scope(engine) as session:
        advance_timers(session, registry, T + timedelta(days=91))
    assert _entered(engine, "winback") == {}


def test_re_entry_waits_for_the_cooldown(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _registry(engine, WINBACK)
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, "c1", T, 3)], T)
        advance_timers(session, registry, T + timedelta(days=91))
        # Back: the order ends the enrollment (final stage) and restarts the clock.
        back = T + timedelta(days=100)
        apply_events(session, registry, [_order(make_event, "c1", back, 4)], back)
    [timer] = peek.rows("segment_timer", "id")
    assert timer["due_at"] == back + timedelta(days=90, microseconds=1)
    with session_scope(engine) as session:
        advance_timers(session, registry, back + timedelta(days=91))
    assert _entered(engine, "winback") == {"c1": 2}


def _lapsed(engine: Engine, make_event: Callable[..., IncomingEvent], n: int) -> JourneyRegistry:
    registry = _registry(engine, WINBACK)
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, f"c{i}", T, 3) for i in range(n)], T)
    return registry


def test_a_sweep_run_twice_enters_each_customer_once(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _lapsed(engine, make_event, 30)
    for _ in range(2):
        with session_scope(engine) as session:
            advance_timers(session, registry, T + timedelta(days=95))
    entered = _entered(engine, "winback")
    assert len(entered) == 30 and set(entered.values()) == {1}
    assert peek.count("action_run") == 30


def test_two_sweeps_at_once_enter_each_customer_once(
    engine: Engine, make_event: Callable[..., IncomingEvent]
) -> None:
    registry = _lapsed(engine, make_event, 60)
    at = T + timedelta(days=95)
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
    with session_scope(engine) as session:
        advance_timers(session, registry, at)
    entered = _entered(engine, "winback")
    assert len(entered) == 60 and set(entered.values()) == {1}, (entered, errors)


def test_a_customer_still_in_the_segment_is_not_entered_again_by_every_sweep(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    always = {**WINBACK, "reentry": {"policy": "always"}, "exit": [{"event": "account.paused"}]}
    registry = _registry(engine, always)
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, "c1", T, 3)], T)
        advance_timers(session, registry, T + timedelta(days=91))
        paused = T + timedelta(days=92)
        apply_events(session, registry, [make_event("account.paused", "c1", paused)], paused)
    assert peek.count("segment_timer") == 0
    for days in (93, 200):
        with session_scope(engine) as session:
            advance_timers(session, registry, T + timedelta(days=days))
    assert _entered(engine, "winback") == {"c1": 1}
