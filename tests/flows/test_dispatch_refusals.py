"""Refusals that mean "stop": a provider's answer that the address or number must not be
used again changes its consent in the transaction that records the outcome, so later
marketing messages are held back by the send rules. Real SendGrid and Twilio SDKs
against local servers that answer like the real APIs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from channels.email_sendgrid import SendGridChannel
from channels.links import LinkSigner
from channels.render import Renderer
from channels.sms_twilio import TwilioChannel
from flows.dispatch import dispatch_due
from flows.send_rules import SendRules
from journeys import Journey
from journeys.config import PROJECT_ROOT, templates_dir
from journeys.loader import parse_journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.people.consent import set_consent
from journeys.store.tables import action_run_t, consent_change_t, consent_t, customer_t

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "channels"))
from channel_fakes import (
    SENDGRID_KEY,
    TWILIO_SID,
    TWILIO_TOKEN,
    SendGridFake,
    TwilioFake,
    sendgrid_error,
    twilio_error,
)

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # 11:00 in Berlin: outside quiet hours
JOURNEY = """\
journey: refusals
version: 1
name: Refusals
locale: de
settings:
  sender: {email: service@beispielhandel.de, name: Beispielhandel}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter:
      - {sms: setup_reminder, key: sms_1}
      - {sms: setup_reminder, key: sms_2, after: 2d}
      - {email: buying_guide, key: mail_1}
      - {email: buying_guide, key: mail_2, after: 2d}
    final: true
"""
PHONE = "+4915112345678"
# Two customers of one household share the number and the address: both are affected.
PEOPLE = [("k1", "Kim"), ("k2", "Kai")]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'refusals.db'}")
    create_schema(engine)
    return engine


@pytest.fixture
def journey() -> Journey:
    return parse_journey(JOURNEY, "refusals.yaml")[0]


@pytest.fixture
def twilio() -> Iterator[TwilioFake]:
    fake = TwilioFake().start()
    assert isinstance(fake, TwilioFake)
    yield fake
    fake.stop()


@pytest.fixture
def sendgrid() -> Iterator[SendGridFake]:
    fake = SendGridFake().start()
    assert isinstance(fake, SendGridFake)
    yield fake
    fake.stop()


def _sign_up(engine: Engine, journey: Journey) -> None:
    registry = JourneyRegistry()
    events = [
        IncomingEvent(
            source="shop",
            external_id=f"signup-{id}",
            type="account.created",
            customer_id=id,
            occurred_at=T0,
            customer={
                "email": "familie@example.org",
                "phone": PHONE,
                "first_name": name,
                "locale": "de",
                "timezone": "Europe/Berlin",
            },
        )
        for id, name in PEOPLE
    ]
    with session_scope(engine) as session:
        registry.register(session, [journey])
        apply_events(session, registry, events, T0)
        ids = session.connection().execute(select(customer_t.c.id)).scalars().all()
        for customer in ids:
            for channel in ("email", "sms"):
                set_consent(session, customer, channel, "subscribed", "signup form", T0)


def _dispatch(
    engine: Engine, journey: Journey, twilio: TwilioFake, sendgrid: SendGridFake, now: datetime
) -> None:
    channels = {
        "sms": TwilioChannel(
            TWILIO_SID, TWILIO_TOKEN, from_number="+4915790000000", base_url=twilio.url
        ),
        "email": SendGridChannel(SENDGRID_KEY, base_url=sendgrid.url),
    }
    renderer = Renderer(templates_dir(), LinkSigner("refusal-secret-0123456789", "https://x"))
    dispatch_due(engine, [journey], channels, renderer, now, policy=SendRules(), concurrency=1)


def _outcomes(engine: Engine) -> dict[tuple[str, str], tuple[str, str | None]]:
    a, c = action_run_t, customer_t
    query = select(c.c.external_id, a.c.action_key, a.c.status, a.c.last_error).join(
        c, c.c.id == a.c.customer_id
    )
    with engine.connect() as conn:
        return {(who, key): (status, why) for who, key, status, why in conn.execute(query)}


def _consent(engine: Engine, channel: str) -> dict[str, tuple[str, str]]:
    c, k, h = customer_t, consent_t, consent_change_t
    query = (
        select(c.c.external_id, k.c.status, h.c.source)
        .join(k, k.c.customer_id == c.c.id)
        .join(h, (h.c.customer_id == c.c.id) & (h.c.channel == k.c.channel))
        .where(k.c.channel == channel)
        .order_by(h.c.id)
    )
    with engine.connect() as conn:
        return {who: (status, source) for who, status, source in conn.execute(query)}


@pytest.mark.parametrize(
    ("code", "status"),
    [(21610, "unsubscribed"), (21211, "suppressed"), (21614, "suppressed")],
)
def test_a_twilio_refusal_of_the_number_stops_every_later_sms_to_it(
    engine: Engine,
    journey: Journey,
    twilio: TwilioFake,
    sendgrid: SendGridFake,
    code: int,
    status: str,
) -> None:
    _sign_up(engine, journey)
    twilio.replies.append(twilio_error(400, code, "refused"))

    _dispatch(engine, journey, twilio, sendgrid, T0)
    # Both household members' first SMS were due: the first refused, recorded at once.
    assert _consent(engine, "sms") == {who: (status, f"twilio refusal {code}") for who, _ in PEOPLE}
    _dispatch(engine, journey, twilio, sendgrid, T0 + timedelta(days=3))

    runs = _outcomes(engine)
    refused = [who for who, _ in PEOPLE if runs[(who, "sms_1")][0] == "failed"]
    assert len(refused) == 1 and str(code) in (runs[(refused[0], "sms_1")][1] or "")
    later = [runs[(who, key)] for who, _ in PEOPLE for key in ("sms_1", "sms_2")]
    assert sum(s == "skipped" for s, _ in later) == 3  # the other's first, both seconds
    assert len(twilio.requests) == 1  # nothing reached the number after the refusal
    # Email is another channel: untouched.
    assert {runs[(who, k)][0] for who, _ in PEOPLE for k in ("mail_1", "mail_2")} == {"sent"}


def test_a_sendgrid_refusal_of_the_address_suppresses_it(
    engine: Engine, journey: Journey, twilio: TwilioFake, sendgrid: SendGridFake
) -> None:
    _sign_up(engine, journey)
    sendgrid.replies.append(
        sendgrid_error(400, "Does not contain a valid address.", "personalizations.0.to.0.email")
    )

    _dispatch(engine, journey, twilio, sendgrid, T0)
    _dispatch(engine, journey, twilio, sendgrid, T0 + timedelta(days=3))

    assert _consent(engine, "email") == {
        who: ("suppressed", "sendgrid refusal HTTP 400") for who, _ in PEOPLE
    }
    runs = _outcomes(engine)
    mails = sorted(runs[(who, k)][0] for who, _ in PEOPLE for k in ("mail_1", "mail_2"))
    assert mails == ["failed", "skipped", "skipped", "skipped"]
    assert len(sendgrid.requests) == 1


def test_a_refusal_about_the_request_changes_no_consent(
    engine: Engine, journey: Journey, twilio: TwilioFake, sendgrid: SendGridFake
) -> None:
    _sign_up(engine, journey)
    sendgrid.replies.append(sendgrid_error(400, "The subject is required.", "subject"))

    _dispatch(engine, journey, twilio, sendgrid, T0)

    assert {s for s, _ in _consent(engine, "email").values()} == {"subscribed"}
