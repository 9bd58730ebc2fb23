"""The timer sweep: only due enrollments, through the index, in bounded batches."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, event

from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    session_scope,
)

if TYPE_CHECKING:
    from conftest import Peek

H = timedelta(hours=1)
D = timedelta(days=1)


def _ten_buyers(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    t0: datetime,
) -> None:
    """c0…c9 sign up and buy on day i; each goes dormant 30 days after their last event."""
    events = []
    for i in range(10):
        events += [
            make_event("account.created", f"c{i}", i * D),
            make_event("order.completed", f"c{i}", i * D + H),
        ]
    with session_scope(engine) as session:
        apply_events(session, registry, events, t0 + 10 * D)


def _sweep(engine: Engine, registry: JourneyRegistry, now: datetime, limit: int = 1000) -> Any:
    with session_scope(engine) as session:
        return advance_timers(session, registry, now, limit)


def test_only_due_enrollments_move(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    peek: Peek,
    t0: datetime,
) -> None:
    _ten_buyers(engine, registry, make_event, t0)
    before = {e["id"]: e for e in peek.rows("enrollment")}
    now = t0 + 35 * D  # due: c0 … c4 (day i + 1 h + 30 d)

    result = _sweep(engine, registry, now)
    assert (result.timers, result.transitions, result.ended) == (5, 5, 5)
    after = {e["id"]: e for e in peek.rows("enrollment")}
    moved = {i for i in after if after[i] != before[i]}
    assert len(moved) == 5
    for i in moved:
        assert (after[i]["stage"], after[i]["status"], after[i]["timer_due_at"]) == (
            "dormant",
            "completed",
            None,
        )
        assert (
            after[i]["stage_entered_at"] == before[i]["timer_due_at"]
        )  # at its due time, not `now`
    sms = [a for a in peek.rows("action_run") if a["kind"] == "sms"]
    assert len(sms) == 5
    assert all(
        t["cause"] == "timer:no_event_for:30d"
        for t in peek.rows("stage_transition")
        if t["to_stage"] == "dormant"
    )
    assert _sweep(engine, registry, now).timers == 0


def test_the_sweep_is_bounded_and_resumes(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    t0: datetime,
) -> None:
    _ten_buyers(engine, registry, make_event, t0)
    now = t0 + 35 * D
    assert [_sweep(engine, registry, now, limit=2).timers for _ in range(4)] == [2, 2, 1, 0]


def test_activity_postpones_the_inactivity_timer(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    peek: Peek,
    t0: datetime,
) -> None:
    _ten_buyers(engine, registry, make_event, t0)
    with session_scope(engine) as session:
        apply_events(session, registry, [make_event("page.viewed", "c0", 20 * D)], t0 + 20 * D)
    due = {e["customer_id"]: e["timer_due_at"] for e in peek.rows("enrollment")}
    ids = {c["external_id"]: c["id"] for c in peek.rows("customer")}
    assert due[ids["c0"]] == t0 + 50 * D
    assert due[ids["c1"]] == t0 + 31 * D + H
    assert _sweep(engine, registry, t0 + 35 * D).timers == 4  # c1 … c4


def test_the_sweep_reads_through_the_timer_index(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    t0: datetime,
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's planner rightly scans tiny tables; the index is the same")
    _ten_buyers(engine, registry, make_event, t0)
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, sql: str, params: Any, *args: Any) -> None:
        if "timer_due_at <=" in sql and sql.lstrip().startswith("SELECT"):
            seen.append((sql, params))

    event.listen(engine, "before_cursor_execute", record)
    _sweep(engine, registry, t0 + 35 * D)
    event.remove(engine, "before_cursor_execute", record)
    [(sql, params)] = seen
    with engine.connect() as conn:
        plan = " ".join(
            str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params)
        )
    assert "ix_enrollment_journey_timer_due_at (journey=? AND timer_due_at<?)" in plan, plan
