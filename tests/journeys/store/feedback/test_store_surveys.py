"""Survey answers through the message's link, and consent from a newsletter sign-up."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine, text

from journeys import load_journey
from journeys.config import definitions_dir
from journeys.errors import StoreError
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    process_inbox,
    session_scope,
    store_events,
)
from journeys.store.feedback.surveys import record_survey_answer
from journeys.store.people.consent import set_consent

if TYPE_CHECKING:
    from conftest import Peek

Event = Callable[..., IncomingEvent]
SHIPPED = ("newsletter_opt_in", "five_phases")


def _message_key(engine: Engine, registry: JourneyRegistry, event: Event, t0: datetime) -> str:
    """Enroll c1 in onboarding; the key of the welcome email it was sent."""
    with session_scope(engine) as session:
        apply_events(session, registry, [event("account.created")], t0)
    with engine.connect() as conn:
        return str(
            conn.execute(
                text("SELECT idempotency_key FROM action_run WHERE action_key = 'welcome'")
            ).scalar_one()
        )


def test_an_answer_is_stored_with_the_messages_journey_and_stage(
    engine: Engine, registry: JourneyRegistry, make_event: Event, peek: Peek, t0: datetime
) -> None:
    ref = _message_key(engine, registry, make_event, t0)
    with session_scope(engine) as session:
        answer = record_survey_answer(session, ref, "csat", 4, t0, comment="Schnell geholfen")

    assert answer is not None and (answer.customer_external_id, answer.score) == ("c1", 4)
    [row] = peek.rows("survey_response")
    assert (row["kind"], row["score"], row["journey"], row["stage"]) == (
        "csat",
        4,
        "onboarding",
        "signup",
    )
    assert (row["comment"], row["action_idempotency_key"]) == ("Schnell geholfen", ref)


def test_answering_again_replaces_the_score_and_keeps_the_comment(
    engine: Engine, registry: JourneyRegistry, make_event: Event, peek: Peek, t0: datetime
) -> None:
    ref = _message_key(engine, registry, make_event, t0)
    with session_scope(engine) as session:
        record_survey_answer(session, ref, "nps", 3, t0, comment="zu teuer")
    with session_scope(engine) as session:
        record_survey_answer(session, ref, "nps", 9, t0 + timedelta(minutes=5))

    [row] = peek.rows("survey_response")
    assert (row["score"], row["comment"], row["at"]) == (9, "zu teuer", t0 + timedelta(minutes=5))


@pytest.mark.parametrize(
    ("kind", "score", "message"),
    [
        ("csat", 0, "a csat score is 1 to 5, got 0"),
        ("csat", 6, "a csat score is 1 to 5, got 6"),
        ("nps", 11, "a nps score is 0 to 10, got 11"),
        ("cast", 3, "unknown survey kind 'cast'"),
    ],
)
def test_a_score_outside_the_scale_is_refused_naming_the_range(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Event,
    peek: Peek,
    kind: str,
    score: int,
    message: str,
    t0: datetime,
) -> None:
    ref = _message_key(engine, registry, make_event, t0)
    with pytest.raises(StoreError, match=message), session_scope(engine) as session:
        record_survey_answer(session, ref, kind, score, t0)
    assert peek.count("survey_response") == 0


def test_an_unknown_message_stores_nothing(engine: Engine, peek: Peek, t0: datetime) -> None:
    with session_scope(engine) as session:
        assert record_survey_answer(session, "no-such-key", "csat", 5, t0) is None
    assert peek.count("survey_response") == 0


# --- a newsletter sign-up asks for double opt-in ------------------------------------------


def _consent(peek: Peek) -> list[tuple[str, str, str]]:
    return [(r["channel"], r["status"], r["source"]) for r in peek.rows("consent")]


def test_a_newsletter_sign_up_makes_email_consent_pending(
    engine: Engine, registry: JourneyRegistry, make_event: Event, peek: Peek, t0: datetime
) -> None:
    signup = make_event("newsletter.subscribed", at=timedelta(hours=1), source="crm")
    with session_scope(engine) as session:
        store_events(session, [signup], t0)
    with session_scope(engine) as session:
        process_inbox(session, registry, t0 + timedelta(hours=2))

    assert _consent(peek) == [("email", "pending", "crm")]
    [change] = peek.rows("consent_change")
    assert (change["status"], change["previous_status"], change["at"]) == (
        "pending",
        None,
        t0 + timedelta(hours=1),
    )


def test_the_sign_up_names_its_form_and_a_replay_changes_nothing(
    engine: Engine, registry: JourneyRegistry, make_event: Event, peek: Peek, t0: datetime
) -> None:
    signup = make_event("newsletter.subscribed", source="crm")
    signup = signup.model_copy(update={"data": {"source": "footer_form"}})
    for _ in range(2):
        with session_scope(engine) as session:
            apply_events(session, registry, [signup], t0)

    assert _consent(peek) == [("email", "pending", "footer_form")]
    assert peek.count("consent_change") == 1


@pytest.mark.parametrize("status", ["subscribed", "suppressed"])
def test_a_sign_up_leaves_subscribed_and_suppressed_alone(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Event,
    peek: Peek,
    status: str,
    t0: datetime,
) -> None:
    with session_scope(engine) as session:
        apply_events(session, registry, [make_event("account.created")], t0)
    [customer] = peek.rows("customer")
    with session_scope(engine) as session:
        set_consent(session, customer["id"], "email", status, "import", t0)
    later = make_event("newsletter.subscribed", at=timedelta(days=1))
    with session_scope(engine) as session:
        apply_events(session, registry, [later], t0 + timedelta(days=1))

    assert _consent(peek) == [("email", status, "import")]


def test_an_unsubscribed_customer_who_signs_up_again_is_pending(
    engine: Engine, registry: JourneyRegistry, make_event: Event, peek: Peek, t0: datetime
) -> None:
    with session_scope(engine) as session:
        apply_events(session, registry, [make_event("account.created")], t0)
    [customer] = peek.rows("customer")
    with session_scope(engine) as session:
        set_consent(session, customer["id"], "email", "unsubscribed", "unsubscribe_link", t0)
    later = make_event("newsletter.subscribed", at=timedelta(days=1), source="crm")
    with session_scope(engine) as session:
        apply_events(session, registry, [later], t0 + timedelta(days=1))

    assert _consent(peek) == [("email", "pending", "crm")]
    assert [r["previous_status"] for r in peek.rows("consent_change")] == [None, "unsubscribed"]


def test_the_shipped_journeys_send_the_welcome_only_after_the_confirmation(
    engine: Engine, make_event: Event, peek: Peek, t0: datetime
) -> None:
    journeys = [load_journey(definitions_dir() / f"{key}.yaml") for key in SHIPPED]
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, journeys)
    signup = make_event("newsletter.subscribed", profile={"email": "max@example.org"})
    with session_scope(engine) as session:
        apply_events(session, registry, [signup], t0)

    def messages() -> list[tuple[str, str]]:
        return [(r["journey"], r["template"]) for r in peek.rows("action_run")]

    assert messages() == [("newsletter_opt_in", "confirm_subscription")]
    assert _consent(peek) == [("email", "pending", "shop")]

    confirmed = make_event("newsletter.confirmed", at=timedelta(hours=1), source="links")
    with session_scope(engine) as session:
        apply_events(session, registry, [confirmed], t0 + timedelta(hours=1))

    assert sorted(messages()) == [
        ("five_phases", "welcome"),
        ("newsletter_opt_in", "confirm_subscription"),
    ]
