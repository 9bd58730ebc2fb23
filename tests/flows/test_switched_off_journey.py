"""A journey switched off (enabled: false, or left out of JOURNEYFLOW_ENABLED_JOURNEYS)
takes no new customers and fires no timers; what it had scheduled still goes out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from channels.links import LinkSigner
from channels.outbox import OutboxChannel
from channels.render import Renderer
from flows.dispatch import dispatch_due
from journeys import load_journeys
from journeys.config import templates_dir
from journeys.enabled import enabled
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.tables import action_run_t, enrollment_t

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _event(n: int, type_: str, customer: str, at: datetime) -> IncomingEvent:
    return IncomingEvent(
        source="shop",
        external_id=f"{customer}-{n}",
        type=type_,
        customer_id=customer,
        occurred_at=at,
        data={"order_id": f"10{n}", "total": 20.0, "product_name": "Laptop"},
        customer={"email": f"{customer}@example.com", "first_name": "Anna", "locale": "de"},
    )


def _registry(engine: Engine, monkeypatch: pytest.MonkeyPatch, keys: str) -> JourneyRegistry:
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", keys)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, enabled(load_journeys()))
    return registry


def test_a_switched_off_journey_stops_but_sends_what_it_had_scheduled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'off.db'}")
    create_schema(engine)
    on = _registry(engine, monkeypatch, "customer_lifecycle")
    delivered = T0 + timedelta(hours=1)
    with session_scope(engine) as session:
        apply_events(
            session,
            on,
            [
                _event(1, "order.completed", "anna", T0),
                _event(2, "order.delivered", "anna", delivered),
            ],
            delivered,
        )

    off = _registry(engine, monkeypatch, "newsletter_opt_in")
    later = T0 + timedelta(days=5)  # past the review request's 3 days after delivery
    with session_scope(engine) as session:
        apply_events(session, off, [_event(3, "order.completed", "ben", later)], later)
        assert advance_timers(session, off, later, limit=100).timers == 0
    channel = OutboxChannel(tmp_path / "outbox", kind="email", durable=False)
    renderer = Renderer(templates_dir(), LinkSigner("off-secret-0123456789abcdef", "https://x"))
    dispatch_due(engine, off, {"email": channel}, renderer, later)

    a, e = action_run_t, enrollment_t
    with engine.connect() as conn:
        sent = conn.execute(
            select(a.c.template).where(a.c.status == "sent").order_by(a.c.template)
        ).all()
        stages = conn.execute(select(e.c.journey, e.c.stage)).all()
    # Anna's thank-you and getting-started mail went out; no review request, no Ben.
    assert [t for (t,) in sent] == ["getting_started", "thank_you"]
    assert [tuple(row) for row in stages] == [("customer_lifecycle", "receiving_offer")]
