"""Live figures on the journey map, on SQLite and PostgreSQL: customers per stage and
per way, as the store's transitions say."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import Engine, text

from journeys.journey_map import START, journey_map, with_counts
from journeys.model import Journey
from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope
from journeys.store.state.map_counts import map_counts


def test_counts_on_the_map_are_the_stores(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    make_journey: Callable[..., Journey],
) -> None:
    events = [make_event("account.created", f"c{i}", timedelta(minutes=i)) for i in range(6)]
    events += [make_event("order.completed", f"c{i}", timedelta(hours=1)) for i in range(4)]
    events += [
        make_event("review.submitted", f"c{i}", timedelta(hours=2), rating=5) for i in range(2)
    ]
    with session_scope(engine) as session:
        apply_events(session, registry, events, events[-1].occurred_at)
    with session_scope(engine, readonly=True) as session:
        stages, moves = map_counts(session, "onboarding")
    with engine.connect() as conn:
        raw = conn.execute(
            text(
                "select from_stage, to_stage, count(distinct customer_id) from stage_transition "
                "where journey = 'onboarding' group by from_stage, to_stage"
            )
        ).all()
        now = dict(
            conn.execute(
                text(
                    "select stage, count(*) from enrollment where status = 'active' group by stage"
                )
            ).all()
        )
    assert moves == {(a, b): n for a, b, n in raw}
    assert stages["signup"] == (now.get("signup", 0), 6)
    assert stages["active"] == (now.get("active", 0), 4)
    assert stages["loyal"] == (2, 2)

    drawn = with_counts(journey_map(make_journey()), stages, moves)
    into_signup = next(e for e in drawn.edges if e.target == "signup")
    assert into_signup.source == START and into_signup.moved == 6
    assert drawn.node("signup").now == 2 and drawn.node("signup").entered == 6
