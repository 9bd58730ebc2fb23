"""A message sent again at the customer's request: one copy per message and hour."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, text

from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope
from journeys.store.outbox.claims import claim_due
from journeys.store.outbox.resend import resend_key, resend_message

Event = Callable[..., IncomingEvent]


def _welcome(engine: Engine, registry: JourneyRegistry, event: Event, t0: datetime) -> str:
    with session_scope(engine) as session:
        apply_events(session, registry, [event("account.created")], t0)
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT idempotency_key FROM action_run WHERE action_key = 'welcome'")
            ).scalar_one()
        )


def _resend(engine: Engine, ref: str, at: datetime) -> str:
    with session_scope(engine) as session:
        return resend_message(session.connection(), ref, at)


def test_a_copy_is_due_at_once_and_a_second_request_within_the_hour_changes_nothing(
    engine: Engine, registry: JourneyRegistry, make_event: Event, t0: datetime
) -> None:
    ref = _welcome(engine, registry, make_event, t0)
    asked = t0 + timedelta(days=8, minutes=7)

    outcomes = [_resend(engine, ref, asked + timedelta(minutes=m)) for m in (0, 20, 52)]
    outcomes.append(_resend(engine, ref, asked + timedelta(minutes=53)))  # the next hour

    assert outcomes == ["queued", "recently", "recently", "queued"]
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT idempotency_key, template, status, due_at, attempts, params "
                "FROM action_run WHERE action_key = 'welcome' ORDER BY id"
            )
        ).all()
    assert [r.idempotency_key for r in rows] == [
        ref,
        resend_key(ref, asked),
        resend_key(ref, asked + timedelta(minutes=53)),
    ]
    copy = rows[1]
    assert (copy.template, copy.status, copy.attempts) == ("welcome", "pending", 0)
    params = copy.params if isinstance(copy.params, dict) else json.loads(copy.params)
    assert params["resend_of"] == ref
    # Due at once: the dispatcher takes it with the original, which was due at t0.
    with session_scope(engine) as session:
        claimed = claim_due(session, asked, limit=10, lease=timedelta(minutes=1), worker="w")
    assert {a.idempotency_key for a in claimed} >= {ref, resend_key(ref, asked)}


def test_an_unknown_message_is_not_resent(engine: Engine, t0: datetime) -> None:
    assert _resend(engine, "no-such-message", t0) == "unknown"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM action_run")).scalar_one() == 0
