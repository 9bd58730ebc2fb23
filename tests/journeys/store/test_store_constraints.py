"""What the database itself enforces, whatever code writes to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel

from journeys.model import Journey
from journeys.store import (
    ActionRun,
    Consent,
    Customer,
    Enrollment,
    JourneyRegistry,
    PromoCode,
    SurveyResponse,
    session_scope,
)

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def customer_id(engine: Engine, make_journey: Callable[..., Journey]) -> int:
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [make_journey()])
        customer = Customer(external_id="c1", email="kim@example.com")
        session.add(customer)
        session.flush()
        assert customer.id is not None
        return customer.id


@pytest.fixture
def enrollment_id(engine: Engine, customer_id: int) -> int:
    with session_scope(engine) as session:
        enrollment = _enrollment(customer_id)
        session.add(enrollment)
        session.flush()
        assert enrollment.id is not None
        return enrollment.id


def _enrollment(customer_id: int, **changes: Any) -> Enrollment:
    values: dict[str, Any] = {
        "customer_id": customer_id,
        "journey": "onboarding",
        "version": 1,
        "number": 1,
        "stage": "signup",
        "status": "active",
        "entered_at": NOW,
        "stage_entered_at": NOW,
        "stage_entry": 1,
        "last_event_at": NOW,
    }
    return Enrollment(**{**values, **changes})


def _action(enrollment_id: int, customer_id: int, key: str) -> ActionRun:
    return ActionRun(
        idempotency_key=key,
        enrollment_id=enrollment_id,
        journey="onboarding",
        customer_id=customer_id,
        stage="signup",
        stage_entry=1,
        action_key="welcome",
        kind="email",
        due_at=NOW,
    )


def _promo(customer_id: int, code: str, action: str | None = None) -> PromoCode:
    return PromoCode(
        code=code,
        customer_id=customer_id,
        discount="10%",
        expires_at=NOW + timedelta(days=30),
        action_idempotency_key=action,
    )


def _refused(engine: Engine, *first: SQLModel, then: SQLModel) -> None:
    """The rows in `first` go in; `then` is refused by the database."""
    with session_scope(engine) as session:
        session.add_all(first)
    with pytest.raises(IntegrityError), session_scope(engine) as session:
        session.add(then)
        session.flush()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with session_scope(engine) as session:
        yield session


def test_promo_codes_are_unique(engine: Engine, customer_id: int) -> None:
    _refused(engine, _promo(customer_id, "DANKE-7K2Q"), then=_promo(customer_id, "DANKE-7K2Q"))


def test_an_action_issues_at_most_one_promo_code(engine: Engine, customer_id: int) -> None:
    _refused(
        engine,
        _promo(customer_id, "A-1", action="k1"),
        then=_promo(customer_id, "A-2", action="k1"),
    )


def test_idempotency_keys_are_unique(engine: Engine, customer_id: int, enrollment_id: int) -> None:
    _refused(
        engine,
        _action(enrollment_id, customer_id, "k1"),
        then=_action(enrollment_id, customer_id, "k1"),
    )


def test_one_active_enrollment_per_customer_and_journey(engine: Engine, customer_id: int) -> None:
    ended = _enrollment(customer_id, status="exited", ended_at=NOW)
    with session_scope(engine) as session:
        session.add_all([ended, _enrollment(customer_id, number=2)])
    _refused(engine, then=_enrollment(customer_id, number=3))


def test_an_enrollment_needs_a_registered_journey_version(engine: Engine, customer_id: int) -> None:
    _refused(engine, then=_enrollment(customer_id, version=9))


@pytest.mark.parametrize(
    "row",
    [
        lambda c: _enrollment(c, status="paused"),
        lambda c: SurveyResponse(customer_id=c, kind="nps", score=11, at=NOW),
        lambda c: SurveyResponse(customer_id=c, kind="csat", score=0, at=NOW),
        lambda c: Consent(customer_id=c, channel="sms", status="maybe", source="import", at=NOW),
    ],
    ids=["enrollment status", "nps range", "csat range", "consent status"],
)
def test_closed_value_sets_are_checked(
    engine: Engine, customer_id: int, row: Callable[[int], SQLModel]
) -> None:
    _refused(engine, then=row(customer_id))


def test_one_consent_per_customer_and_channel(engine: Engine, customer_id: int) -> None:
    def consent(status: str) -> Consent:
        return Consent(
            customer_id=customer_id, channel="email", status=status, source="form", at=NOW
        )

    _refused(engine, consent("pending"), then=consent("subscribed"))


def test_valid_rows_go_in(engine: Engine, customer_id: int, enrollment_id: int) -> None:
    with session_scope(engine) as session:
        session.add_all(
            [
                SurveyResponse(customer_id=customer_id, kind="nps", score=10, at=NOW),
                SurveyResponse(customer_id=customer_id, kind="csat", score=5, at=NOW),
                Consent(
                    customer_id=customer_id, channel="sms", status="subscribed", source="x", at=NOW
                ),
                _promo(customer_id, "A-1", action="k1"),
                _action(enrollment_id, customer_id, "k1"),
            ]
        )
