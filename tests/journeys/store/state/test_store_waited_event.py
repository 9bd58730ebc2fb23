"""What a message of a stage entered by a wait renders with: the event that entered the
stage the customer waited in (the cart a reminder is about), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine

from journeys import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    session_scope,
)
from journeys.store.outbox.claims import claim_due

H = timedelta(hours=1)

CART = Journey.model_validate(
    {
        "journey": "cart",
        "version": 1,
        "name": "Cart",
        "stages": [
            {
                "key": "cart",
                "enter_when": [
                    {"event": "cart.updated"},
                    {"event": "cart.updated", "from": ["cart"]},
                ],
            },
            {"key": "waiting", "enter_when": [{"after": "2h", "from": ["cart"]}]},
            {
                "key": "reminded",
                "enter_when": [{"no_event_for": "2h", "from": ["waiting"]}],
                "on_enter": [{"email": "cart_reminder", "marketing": False}],
            },
            {
                "key": "digest",
                "enter_when": [{"every": "0 9 * * *", "from": ["reminded"]}],
                "on_enter": [{"email": "weekly_digest", "marketing": False}],
                "final": True,
            },
        ],
    }
)


def test_a_chain_of_waits_carries_the_latest_cart_and_a_schedule_carries_none(
    engine: Engine, make_event: Callable[..., IncomingEvent], t0: datetime
) -> None:
    registry = JourneyRegistry()
    profile = {"email": "kim@example.com"}
    with session_scope(engine) as session:
        registry.register(session, [CART])
        apply_events(
            session,
            registry,
            [
                make_event("cart.updated", "c1", 0 * H, profile=profile, items=["a"]),
                make_event("cart.updated", "c1", 1 * H, items=["a", "b"]),
            ],
            t0 + 1 * H,
        )
    for hours in (4, 6, 48):  # waiting at 3h, reminded at 5h, the digest the next morning
        with session_scope(engine) as session:
            advance_timers(session, registry, t0 + hours * H, 100)
    with session_scope(engine) as session:
        claimed = claim_due(session, t0 + 48 * H, 10, timedelta(minutes=5), "test")

    by_template = {a.template: a for a in claimed}
    reminder = by_template["cart_reminder"]
    assert reminder.event is not None
    assert reminder.event["type"] == "cart.updated"
    assert reminder.event["data"] == {"items": ["a", "b"]}
    assert by_template["weekly_digest"].event is None
