"""`observe`: the engine's decisions, as the batch takes them, for whoever asks (journey
coverage in scenario tests). What it reports is what the store wrote."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from journeys.decisions import Decision, ScheduledAction, Transitioned
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    session_scope,
)

if TYPE_CHECKING:
    from conftest import Peek

D = timedelta(days=1)


def test_observe_sees_the_transitions_and_actions_the_store_writes(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    peek: Peek,
    t0: datetime,
) -> None:
    seen: list[Decision] = []

    def observe(decisions: Sequence[Decision]) -> None:
        seen.extend(decisions)

    events = [
        make_event("account.created", "c1", timedelta(0)),
        make_event("order.completed", "c1", D),
        make_event("account.created", "c2", timedelta(0)),
    ]
    with session_scope(engine) as session:
        apply_events(session, registry, events, t0 + D, observe=observe)
    with session_scope(engine) as session:  # c1 goes dormant 30 days after the order
        advance_timers(session, registry, t0 + 40 * D, observe=observe)

    transitions = [d for d in seen if isinstance(d, Transitioned)]
    stored = peek.rows("stage_transition")
    assert sorted((t.to_stage, t.cause) for t in transitions) == sorted(
        (r["to_stage"], r["cause"]) for r in stored
    )
    assert any(t.cause.startswith("timer:") for t in transitions)
    scheduled = [d for d in seen if isinstance(d, ScheduledAction)]
    assert sorted(a.idempotency_key for a in scheduled) == sorted(
        r["idempotency_key"] for r in peek.rows("action_run")
    )
