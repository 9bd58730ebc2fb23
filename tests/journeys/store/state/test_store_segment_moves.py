"""Segment moves (`segment` with `from`) through the store, on SQLite and PostgreSQL: a
profile change moves a customer at the change; time moves them when the sweep reaches
the moment the enrollment's timer names; a sweep run twice moves each customer once,
and the stage's email is scheduled once."""

from __future__ import annotations

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

TIERS: dict[str, Any] = {
    "journey": "tiers",
    "version": 1,
    "name": "Tiers",
    "stages": [
        {"key": "member", "enter_when": {"event": "order.completed"}},
        {
            "key": "vip",
            "enter_when": {"segment": "orders_total >= 3", "from": ["member"]},
            "on_enter": [{"email": "vip_welcome"}],
        },
        {
            "key": "lapsed",
            "enter_when": {
                "segment": "customer.last_order_at < now - 90d",
                "from": ["member", "vip"],
            },
            "on_enter": [{"email": "we_miss_you"}],
        },
    ],
}


def _registry(engine: Engine) -> JourneyRegistry:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [Journey.model_validate(TIERS)])
    return registry


def _order(
    make_event: Callable[..., IncomingEvent], customer: str, at: datetime, total: int
) -> IncomingEvent:
    profile = {"attributes": {"orders_total": total, "last_order_at": at.isoformat()}}
    return make_event("order.completed", customer, at, profile=profile)


def _history(engine: Engine) -> list[tuple[str, str | None, str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "select c.external_id, t.from_stage, t.to_stage, t.cause from stage_transition t "
                "join customer c on c.id = t.customer_id order by t.id"
            )
        )
        return [(str(c), f, str(to), str(cause)) for c, f, to, cause in rows]


def test_a_profile_update_moves_the_customer_at_the_update(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _registry(engine)
    later = T + timedelta(days=3)
    update = make_event(
        "customer.updated", "c1", later, profile={"attributes": {"orders_total": 3}}
    )
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, "c1", T, 1)], T)
        apply_events(session, registry, [update], later)
    moves = _history(engine)
    assert [m[2] for m in moves] == ["member", "vip"]
    assert moves[-1][3].startswith("event:")
    [enrollment] = peek.rows("enrollment", "id")
    assert enrollment["stage"] == "vip" and enrollment["stage_entered_at"] == later
    assert [r["template"] for r in peek.rows("action_run", "id")] == ["vip_welcome"]


def test_time_moves_the_customer_when_the_sweep_reaches_the_moment(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _registry(engine)
    with session_scope(engine) as session:
        apply_events(session, registry, [_order(make_event, "c1", T, 1)], T)
    [enrollment] = peek.rows("enrollment", "id")
    due = enrollment["timer_due_at"]
    assert T + timedelta(days=90) < due <= T + timedelta(days=90, minutes=1)
    with session_scope(engine) as session:
        advance_timers(session, registry, T + timedelta(days=89))
    assert [m[2] for m in _history(engine)] == ["member"]
    for _ in range(2):  # a second sweep finds nothing more to do
        with session_scope(engine) as session:
            advance_timers(session, registry, T + timedelta(days=95))
    assert [m[2:] for m in _history(engine)] == [
        ("member", _history(engine)[0][3]),
        ("lapsed", "timer:segment"),
    ]
    [enrollment] = peek.rows("enrollment", "id")
    assert enrollment["stage_entered_at"] == due
    assert [r["template"] for r in peek.rows("action_run", "id")] == ["we_miss_you"]


def test_many_customers_each_move_once(
    engine: Engine, make_event: Callable[..., IncomingEvent], peek: Peek
) -> None:
    registry = _registry(engine)
    orders = [_order(make_event, f"c{i}", T, 3 if i % 2 else 1) for i in range(40)]
    with session_scope(engine) as session:
        apply_events(session, registry, orders, T)
    for _ in range(4):  # 40 due, 15 a sweep: the fourth finds nothing left
        with session_scope(engine) as session:
            advance_timers(session, registry, T + timedelta(days=95), limit=15)
    moves = _history(engine)
    vip = sorted(c for c, _, to, _ in moves if to == "vip")
    lapsed = sorted(c for c, _, to, _ in moves if to == "lapsed")
    assert vip == sorted(f"c{i}" for i in range(40) if i % 2)
    assert lapsed == sorted(f"c{i}" for i in range(40))
    templates = [r["template"] for r in peek.rows("action_run", "id")]
    assert templates.count("vip_welcome") == 20 and templates.count("we_miss_you") == 40
