"""The stage funnel: per stage, in the journey's order, who is there and who ever was."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine

from journeys.errors import UnknownJourneyError
from journeys.store import (
    FunnelRow,
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    session_scope,
    stage_funnel,
)

H = timedelta(hours=1)


def test_the_funnel_follows_the_stage_order(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    t0: datetime,
) -> None:
    events = [make_event("account.created", f"c{i}", i * H) for i in range(6)]
    events += [make_event("order.completed", f"c{i}", (10 + i) * H) for i in range(4)]
    events += [make_event("review.submitted", f"c{i}", (20 + i) * H, rating=5) for i in range(2)]
    with session_scope(engine) as session:
        apply_events(session, registry, events, t0 + 30 * H)
        advance_timers(session, registry, t0 + timedelta(days=30, hours=12, minutes=30), 100)
    with session_scope(engine, readonly=True) as session:
        funnel = stage_funnel(session)
        assert stage_funnel(session, "onboarding") == funnel
        with pytest.raises(UnknownJourneyError, match="onboarding"):
            stage_funnel(session, "onbaording")
    assert funnel == [
        FunnelRow("onboarding", "signup", 2, 6),
        FunnelRow("onboarding", "active", 1, 4),  # c2 went dormant, c3 is still active
        FunnelRow("onboarding", "loyal", 2, 2),
        FunnelRow("onboarding", "dormant", 1, 1),
    ]


def test_an_empty_journey_has_zero_rows(engine: Engine, registry: JourneyRegistry) -> None:
    with session_scope(engine, readonly=True) as session:
        funnel = stage_funnel(session)
    assert [(r.stage, r.current, r.entered) for r in funnel] == [
        ("signup", 0, 0),
        ("active", 0, 0),
        ("loyal", 0, 0),
        ("dormant", 0, 0),
    ]
