"""The send rules in the real dispatcher: consent, quiet hours in the customer's own
time zone, frequency caps; on a real SQLite file, through the real outbox channel."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlmodel import Session

from channels.links import LinkSigner
from channels.outbox import OutboxChannel
from channels.render import Renderer
from flows.dispatch import dispatch_due
from flows.send_rules import SendRules
from journeys import Journey
from journeys.config import templates_dir
from journeys.loader import parse_journey
from journeys.store import (
    Customer,
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.people.consent import set_consent
from journeys.store.tables import action_run_t

# Monday 2 March 2026: Berlin is UTC+1, New York UTC-5.
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULES = """\
journey: rules
version: 1
name: Rules
locale: de
settings:
  quiet_hours: "21:00-08:00"
  frequency_cap: {email: 2/7d}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter:
      - email: thank_you
        marketing: false
      - {email: buying_guide, key: guide_1}
      - {email: buying_guide, key: guide_2}
      - {email: buying_guide, key: guide_3}
    final: true
"""


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'rules.db'}")
    create_schema(engine)
    return engine


@pytest.fixture
def journey() -> Journey:
    return parse_journey(RULES, "rules.yaml")[0]


def _sign_up(engine: Engine, journey: Journey, tz: str, consent: str | None) -> int:
    registry = JourneyRegistry()
    event = IncomingEvent(
        source="shop",
        external_id="signup-1",
        type="account.created",
        customer_id="k1",
        occurred_at=T0,
        customer={"email": "k1@example.org", "locale": "de", "timezone": tz},
    )
    with session_scope(engine) as session:
        registry.register(session, [journey])
        apply_events(session, registry, [event], T0)
    with Session(engine) as session, session.begin():
        customer = session.exec(select(Customer).where(Customer.external_id == "k1")).one()[0]
        if consent is not None:
            set_consent(session, customer.id, "email", consent, "signup double opt-in", T0)
        return int(customer.id)


def _dispatch(engine: Engine, journey: Journey, tmp_path: Path, now: datetime) -> dict[str, str]:
    channels = {"email": OutboxChannel(tmp_path / "outbox", kind="email", durable=False)}
    renderer = Renderer(templates_dir(), LinkSigner("rules-secret-0123456789", "https://x"))
    dispatch_due(engine, [journey], channels, renderer, now, policy=SendRules())
    with engine.connect() as conn:
        rows = conn.execute(
            select(
                action_run_t.c.action_key,
                action_run_t.c.status,
                action_run_t.c.last_error,
                action_run_t.c.due_at,
            )
        ).all()
    return (
        {key: status for key, status, _, _ in rows}
        | {f"{key}.why": str(error) for key, _, error, _ in rows}
        | {f"{key}.due": due.isoformat() for key, _, _, due in rows}
    )


def test_no_marketing_mail_without_consent_but_the_confirmation_goes_out(
    engine: Engine, journey: Journey, tmp_path: Path
) -> None:
    _sign_up(engine, journey, "Europe/Berlin", consent=None)

    runs = _dispatch(engine, journey, tmp_path, T0 + timedelta(minutes=5))

    assert runs["thank_you"] == "sent"
    for key in ("guide_1", "guide_2", "guide_3"):
        assert runs[key] == "skipped"
        assert "no consent" in runs[f"{key}.why"]
    assert len(list((tmp_path / "outbox").glob("*/*.eml"))) == 1


def test_an_unsubscribed_customer_gets_only_transactional_mail(
    engine: Engine, journey: Journey, tmp_path: Path
) -> None:
    _sign_up(engine, journey, "Europe/Berlin", consent="unsubscribed")

    runs = _dispatch(engine, journey, tmp_path, T0 + timedelta(minutes=5))

    assert [runs[k] for k in ("thank_you", "guide_1", "guide_2", "guide_3")] == [
        "sent",
        "skipped",
        "skipped",
        "skipped",
    ]


def test_the_frequency_cap_holds_within_one_batch_and_defers_the_rest(
    engine: Engine, journey: Journey, tmp_path: Path
) -> None:
    _sign_up(engine, journey, "Europe/Berlin", consent="subscribed")
    now = T0 + timedelta(minutes=5)  # 10:05 in Berlin

    runs = _dispatch(engine, journey, tmp_path, now)

    statuses = sorted(runs[k] for k in ("guide_1", "guide_2", "guide_3"))
    assert statuses == ["pending", "sent", "sent"]  # 2 per 7 days; the third waits
    [waiting] = [k for k in ("guide_1", "guide_2", "guide_3") if runs[k] == "pending"]
    assert datetime.fromisoformat(runs[f"{waiting}.due"]) >= now + timedelta(days=7) - timedelta(
        seconds=1
    )
    assert runs["thank_you"] == "sent"  # transactional: not capped, not counted


@pytest.mark.parametrize(
    ("tz", "expected"),
    [
        # 21:30 UTC is 22:30 in Berlin (quiet until 08:00 = 07:00 UTC) ...
        ("Europe/Berlin", "pending"),
        # ... and 16:30 in New York: the same instant is fine there.
        ("America/New_York", "sent"),
    ],
)
def test_quiet_hours_are_read_in_the_customers_own_time_zone(
    engine: Engine, journey: Journey, tmp_path: Path, tz: str, expected: str
) -> None:
    _sign_up(engine, journey, tz, consent="subscribed")
    now = datetime(2026, 3, 2, 21, 30, tzinfo=UTC)

    runs = _dispatch(engine, journey, tmp_path, now)

    assert runs["guide_1"] == expected
    if expected == "pending":
        assert datetime.fromisoformat(runs["guide_1.due"]) == datetime(2026, 3, 3, 7, 0, tzinfo=UTC)
    assert runs["thank_you"] == "sent"  # an order confirmation is not held back at night
