"""Twilio inbound SMS and status callbacks, through the running service.

Requests are signed with the Twilio SDK's own `RequestValidator.compute_signature`
over the URL they are posted to, as Twilio signs them.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from receiver_harness import MakeReceiver, Receiver
from sqlalchemy import Engine, select, update
from twilio.request_validator import RequestValidator

from channels.links import LinkSigner
from channels.outbox import OutboxChannel
from channels.render import Renderer
from channels.sms_twilio import with_query
from flows.dispatch import dispatch_due
from flows.send_rules import SendRules
from journeys.config import templates_dir
from journeys.loader import parse_journey
from journeys.policy import Skip, consent_check
from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope
from journeys.store.people.consent import consents_for, set_consent
from journeys.store.tables import action_run_t, customer_t

TOKEN = "twilio-auth-token-0123456789abcdef"
ACCOUNT = "AC" + "0" * 32
OURS = "+4930123456"
ANNA = "+4915112345678"  # customer a-1, German
BEN = "+4917612345678"  # customer b-1, English
STRANGER = "+4916098765432"  # nobody's number
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
STOP_WORDS = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"]

JOURNEY = parse_journey(
    """\
journey: sms_setup
version: 1
name: SMS setup
locale: en
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter:
      - {sms: setup_reminder, key: reminder}
      - {sms: setup_reminder, key: notice, marketing: false}
    final: true
""",
    "sms_setup.yaml",
)[0]


def config(**twilio: Any) -> dict[str, Any]:
    source = {"kind": "twilio", "auth_token": "${TWILIO_AUTH_TOKEN}", **twilio}
    return {"sources": {"twilio": source}}


@pytest.fixture
def twilio(make_receiver: MakeReceiver, store_engine: Engine) -> Receiver:
    sign_up(store_engine)
    return make_receiver(
        config(help_text={"en": "Help: call us.", "de": "Hilfe: ruf uns an."}),
        env={"TWILIO_AUTH_TOKEN": TOKEN},
        clock=lambda: datetime.now(UTC),
    )


def sign_up(engine: Engine) -> dict[str, int]:
    """Anna (de-AT) and Ben (en) sign up, SMS subscribed: two SMS each are due at T0."""
    registry = JourneyRegistry()
    events = [
        IncomingEvent(
            source="shop",
            external_id=f"signup-{external_id}",
            type="account.created",
            customer_id=external_id,
            occurred_at=T0,
            customer={"phone": phone, "locale": locale, "first_name": external_id},
        )
        for external_id, phone, locale in (("a-1", ANNA, "de-AT"), ("b-1", BEN, "en"))
    ]
    with session_scope(engine) as session:
        registry.register(session, [JOURNEY])
        apply_events(session, registry, events, T0)
        conn = session.connection()
        ids = dict(conn.execute(select(customer_t.c.external_id, customer_t.c.id)).all())
        for customer_id in ids.values():
            set_consent(session, customer_id, "sms", "subscribed", "signup form", T0)
    return ids


def post(
    receiver: Receiver,
    params: dict[str, str],
    *,
    url: str | None = None,
    signed_url: str | None = None,
    token: str = TOKEN,
    signature: str | None = None,
) -> httpx.Response:
    """POST `params` as Twilio does, signed over `signed_url` (default: the URL posted to)."""
    url = url or receiver.url + "/webhooks/twilio"
    headers = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}
    if signature is None:
        signature = RequestValidator(token).compute_signature(signed_url or url, params)
    if signature:
        headers["X-Twilio-Signature"] = signature
    return receiver.client.post(url, content=urlencode(params).encode(), headers=headers)


def sms(body: str, sender: str = ANNA, sid: str | None = None) -> dict[str, str]:
    sid = sid or "SM" + uuid.uuid4().hex
    return {
        "MessageSid": sid,
        "SmsMessageSid": sid,
        "AccountSid": ACCOUNT,
        "From": sender,
        "To": OURS,
        "Body": body,
        "NumMedia": "0",
        "NumSegments": "1",
        "ApiVersion": "2010-04-01",
    }


def reply(response: httpx.Response) -> str | None:
    """The text of the TwiML answer's message, or None for an empty <Response/>."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response"
    message = root.find("Message")
    return None if message is None else message.text


def consent(receiver: Receiver, external_id: str) -> str | None:
    with receiver.engine.connect() as conn:
        (customer_id,) = conn.execute(
            select(customer_t.c.id).where(customer_t.c.external_id == external_id)
        ).one()
        return consents_for(conn, [customer_id], ["sms"]).get((customer_id, "sms"))


def history(receiver: Receiver) -> list[tuple[str, str, str]]:
    return [
        tuple(row)
        for row in receiver.rows(
            "SELECT c.external_id, h.status, h.source FROM consent_change h "
            "JOIN customer c ON c.id = h.customer_id "
            "WHERE h.source != 'signup form' ORDER BY h.id"
        )
    ]


# --- keywords ------------------------------------------------------------------------------


def test_every_stop_word_in_any_case_unsubscribes_and_start_words_resubscribe(
    twilio: Receiver,
) -> None:
    starts = ["START", "yes", "UnStop"]
    for n, word in enumerate(STOP_WORDS):
        mixed = "".join(c.lower() if i % 2 else c for i, c in enumerate(word))  # "StOp"
        variant = f"  {mixed}\n" if n % 2 else mixed.swapcase()
        assert reply(post(twilio, sms(variant))) is None
        assert consent(twilio, "a-1") == "unsubscribed", word
        start = starts[n % len(starts)]
        assert reply(post(twilio, sms(f" {start} "))) is None
        assert consent(twilio, "a-1") == "subscribed", start
    assert history(twilio) == [
        ("a-1", status, "sms_keyword")
        for _ in STOP_WORDS
        for status in ("unsubscribed", "subscribed")
    ]
    types = twilio.rows("SELECT type, count(*) FROM inbound_event GROUP BY type ORDER BY type")
    assert types == [("account.created", 2), ("sms.opted_in", 8), ("sms.opted_out", 8)]
    assert consent(twilio, "b-1") == "subscribed"


@pytest.mark.parametrize("text", ["stop please", "please STOP", "STOP!", "S T O P", "stops"])
def test_a_text_that_is_not_only_the_keyword_changes_nothing(twilio: Receiver, text: str) -> None:
    sid = "SM" + uuid.uuid4().hex
    assert reply(post(twilio, sms(text, sid=sid))) is None
    assert consent(twilio, "a-1") == "subscribed"
    assert history(twilio) == []
    row = twilio.rows(
        "SELECT type, customer_id, processed_at FROM inbound_event WHERE external_id = :sid",
        sid=sid,
    )
    assert row == [("sms.received", "a-1", None)]
    assert twilio.stored == [1]


def test_help_is_answered_in_the_customers_locale(make_receiver: MakeReceiver) -> None:
    receiver = make_receiver(
        config(
            help_text={"en": "Help: call us.", "de": "Hilfe: ruf uns an."},
            stop_text={"de": "Abgemeldet.", "en": "Unsubscribed."},
        ),
        env={"TWILIO_AUTH_TOKEN": TOKEN},
    )
    sign_up(receiver.engine)
    assert reply(post(receiver, sms("help", sender=ANNA))) == "Hilfe: ruf uns an."  # de-AT
    assert reply(post(receiver, sms(" INFO", sender=BEN))) == "Help: call us."
    # Nobody's number: the first entry.
    assert reply(post(receiver, sms("Help", sender=STRANGER))) == "Help: call us."
    assert reply(post(receiver, sms("stop", sender=ANNA))) == "Abgemeldet."
    assert reply(post(receiver, sms("Hello", sender=ANNA))) is None
    assert reply(post(receiver, sms("START", sender=ANNA))) is None  # no start_text
    assert consent(receiver, "a-1") == "subscribed"


def test_german_words_by_default_and_configured_ones(
    twilio: Receiver, make_receiver: MakeReceiver
) -> None:
    assert reply(post(twilio, sms("Stopp"))) is None
    assert consent(twilio, "a-1") == "unsubscribed"
    assert reply(post(twilio, sms("START"))) is None
    assert reply(post(twilio, sms("abmelden "))) is None
    assert consent(twilio, "a-1") == "unsubscribed"
    assert reply(post(twilio, sms("HILFE"))) == "Hilfe: ruf uns an."

    configured = make_receiver(  # the same store
        config(
            stop_words=["Halt"],
            start_words=["anmelden"],
            help_words=[],
            help_text={"de": "Hilfe: Beispielhandel hilft."},
        ),
        env={"TWILIO_AUTH_TOKEN": TOKEN},
    )
    steps = [("ANMELDEN", "subscribed"), ("stopp", "subscribed"), ("halt", "unsubscribed")]
    for word, status in steps:
        assert reply(post(configured, sms(word))) is None
        assert consent(configured, "a-1") == status, word
    # The configured words replace the German defaults, never Twilio's own.
    assert reply(post(configured, sms("Hilfe"))) is None
    assert reply(post(configured, sms("help"))) == "Hilfe: Beispielhandel hilft."


def test_a_message_from_an_unknown_number_is_kept_without_the_number(twilio: Receiver) -> None:
    assert reply(post(twilio, sms("STOP", sender=STRANGER))) is None
    (row,) = twilio.rows(
        "SELECT type, customer_id, payload, processed_at FROM inbound_event WHERE type LIKE 'sms.%'"
    )
    kind, customer_id, payload, processed_at = row
    assert kind == "sms.opted_out"
    assert processed_at is not None  # for the record: the engine has nobody to apply it to
    assert STRANGER.lstrip("+") not in customer_id + str(payload)
    assert history(twilio) == []
    assert twilio.stored == []


def test_a_number_shared_by_two_customers_unsubscribes_both(twilio: Receiver) -> None:
    with twilio.engine.begin() as conn:
        conn.execute(update(customer_t).where(customer_t.c.external_id == "b-1").values(phone=ANNA))
    sid = "SM" + uuid.uuid4().hex
    for _ in range(2):
        assert reply(post(twilio, sms("Stop", sid=sid))) is None
    assert (consent(twilio, "a-1"), consent(twilio, "b-1")) == ("unsubscribed", "unsubscribed")
    assert sorted(history(twilio)) == [
        ("a-1", "unsubscribed", "sms_keyword"),
        ("b-1", "unsubscribed", "sms_keyword"),
    ]
    assert twilio.stored == [2]


# --- replays and tampering -----------------------------------------------------------------


def test_a_redelivered_stop_changes_nothing(twilio: Receiver) -> None:
    stop = sms("STOP")
    assert reply(post(twilio, stop)) is None
    assert reply(post(twilio, stop)) is None
    assert history(twilio) == [("a-1", "unsubscribed", "sms_keyword")]
    assert twilio.scalar("SELECT count(*) FROM inbound_event WHERE type = 'sms.opted_out'") == 1
    # The customer opts in again; the old STOP, redelivered late, must not undo that.
    assert reply(post(twilio, sms("START"))) is None
    assert reply(post(twilio, stop)) is None
    assert consent(twilio, "a-1") == "subscribed"
    assert len(history(twilio)) == 2
    assert twilio.stored == [1, 1]


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("body", "does not match"),
        ("url", "does not match"),
        ("token", "does not match"),
        ("missing", "missing header X-Twilio-Signature"),
        ("garbage", "does not match"),
    ],
)
def test_tampering_is_refused_with_401(twilio: Receiver, tamper: str, reason: str) -> None:
    url = twilio.url + "/webhooks/twilio"
    params = sms("STOP")
    if tamper == "body":
        signed = RequestValidator(TOKEN).compute_signature(url, {**params, "Body": "Hello"})
        response = post(twilio, params, signature=signed)
    elif tamper == "url":
        response = post(twilio, params, signed_url=url + "?idempotency_key=other")
    elif tamper == "token":
        response = post(twilio, params, token="another-accounts-token-0123456789")
    elif tamper == "missing":
        response = post(twilio, params, signature="")
    else:
        response = post(twilio, params, signature="AAAA")
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert twilio.scalar("SELECT count(*) FROM inbound_event WHERE type LIKE 'sms.%'") == 0
    assert consent(twilio, "a-1") == "subscribed"


def test_a_status_callback_with_a_changed_query_is_refused(twilio: Receiver) -> None:
    key = action_key(twilio, "a-1", "reminder")
    signed = with_query(twilio.url + "/webhooks/twilio", idempotency_key=key)
    other = with_query(twilio.url + "/webhooks/twilio", idempotency_key=key + "x")
    response = post(twilio, callback("SM1", "delivered"), url=other, signed_url=signed)
    assert response.status_code == 401
    assert twilio.scalar("SELECT count(*) FROM message_event") == 0


def test_unreadable_requests_get_400_or_422_naming_the_field(twilio: Receiver) -> None:
    url = twilio.url + "/webhooks/twilio"
    response = twilio.post("/webhooks/twilio", b'{"Body": "STOP"}', {"X-Twilio-Signature": "x"})
    assert response.status_code == 400
    assert "x-www-form-urlencoded" in response.json()["error"]

    params = sms("STOP")
    del params["MessageSid"]
    response = post(twilio, params)
    assert response.status_code == 422
    assert "MessageSid" in response.json()["error"]

    response = post(twilio, {"AccountSid": ACCOUNT, "MessageSid": "SM1"})
    assert response.status_code == 422
    assert "Body" in response.json()["error"] and "MessageStatus" in response.json()["error"]

    # A field given twice would be read differently from what the signature covers.
    body = urlencode([*sms("Hello").items(), ("Body", "STOP")]).encode()
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(url, sms("STOP")),
    }
    response = twilio.client.post(url, content=body, headers=headers)
    assert response.status_code == 400
    assert "Body" in response.json()["error"]
    assert consent(twilio, "a-1") == "subscribed"


# --- status callbacks ----------------------------------------------------------------------


def action_key(receiver: Receiver, customer: str, key: str) -> str:
    return str(
        receiver.scalar(
            "SELECT a.idempotency_key FROM action_run a JOIN customer c ON c.id = a.customer_id "
            "WHERE c.external_id = :customer AND a.action_key = :key",
            customer=customer,
            key=key,
        )
    )


def mark(receiver: Receiver, idempotency_key: str, status: str, sid: str | None) -> None:
    with receiver.engine.begin() as conn:
        conn.execute(
            update(action_run_t)
            .where(action_run_t.c.idempotency_key == idempotency_key)
            .values(status=status, provider_message_id=sid)
        )


def callback(sid: str, status: str, to: str = ANNA, error: str | None = None) -> dict[str, str]:
    params = {
        "MessageSid": sid,
        "SmsSid": sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "AccountSid": ACCOUNT,
        "From": OURS,
        "To": to,
        "ApiVersion": "2010-04-01",
    }
    if error:
        params["ErrorCode"] = error
    return params


def report(receiver: Receiver, sid: str, status: str, key: str, **kw: Any) -> httpx.Response:
    """A status callback to the URL the SMS channel gives Twilio for the message."""
    url = with_query(
        receiver.url + "/webhooks/twilio", idempotency_key=key, message_id=str(uuid.uuid4())
    )
    return post(receiver, callback(sid, status, **kw), url=url)


def delivery(receiver: Receiver, key: str) -> tuple[str, str | None, str | None]:
    (row,) = receiver.rows(
        "SELECT status, delivery_status, provider_message_id FROM action_run "
        "WHERE idempotency_key = :key",
        key=key,
    )
    return tuple(row)  # type: ignore[return-value]


def test_status_callbacks_update_the_message_and_a_late_one_does_not_go_back(
    twilio: Receiver,
) -> None:
    key = action_key(twilio, "a-1", "reminder")
    mark(twilio, key, "sent", "SMaaa")
    assert reply(report(twilio, "SMaaa", "queued", key)) is None
    assert delivery(twilio, key) == ("sent", "queued", "SMaaa")
    assert reply(report(twilio, "SMaaa", "delivered", key)) is None
    assert delivery(twilio, key) == ("sent", "delivered", "SMaaa")
    # Out of order: 'sent' arrives after 'delivered', and a redelivery of 'queued'.
    assert reply(report(twilio, "SMaaa", "sent", key)) is None
    assert reply(report(twilio, "SMaaa", "queued", key)) is None
    assert delivery(twilio, key) == ("sent", "delivered", "SMaaa")
    events = twilio.rows("SELECT provider, event FROM message_event ORDER BY id")
    assert events == [("twilio", "queued"), ("twilio", "delivered"), ("twilio", "sent")]
    kinds = twilio.rows(
        "SELECT type, customer_id FROM inbound_event WHERE processed_at IS NOT NULL "
        "AND type LIKE 'sms.%' ORDER BY id"
    )
    assert kinds == [("sms.queued", "a-1"), ("sms.delivered", "a-1"), ("sms.sent", "a-1")]
    assert twilio.stored == []  # reports are records: the engine gets no events from them


def test_a_callback_settles_an_unknown_send_as_sent(twilio: Receiver) -> None:
    key = action_key(twilio, "b-1", "notice")
    mark(twilio, key, "unknown", None)  # the request timed out after it left
    assert reply(report(twilio, "SMbbb", "sent", key, to=BEN)) is None
    assert delivery(twilio, key) == ("sent", "sent", "SMbbb")


def test_a_callback_matches_by_message_sid_without_the_key(twilio: Receiver) -> None:
    key = action_key(twilio, "b-1", "notice")
    mark(twilio, key, "sent", "SMccc")
    response = post(twilio, callback("SMccc", "undelivered", to=BEN, error="30003"))
    assert reply(response) is None
    assert delivery(twilio, key) == ("sent", "undelivered", "SMccc")
    assert consent(twilio, "b-1") == "subscribed"  # 30003 (handset off) is temporary
    detail = twilio.scalar("SELECT detail FROM message_event")
    assert "30003" in str(detail) and BEN.lstrip("+") not in str(detail)


@pytest.mark.parametrize(("code", "status"), [("21610", "unsubscribed"), ("30006", "suppressed")])
def test_error_codes_of_a_failed_message_change_sms_consent(
    twilio: Receiver, code: str, status: str
) -> None:
    key = action_key(twilio, "a-1", "reminder")
    mark(twilio, key, "sent", "SMddd")
    for _ in range(2):
        assert reply(report(twilio, "SMddd", "failed", key, error=code)) is None
    assert delivery(twilio, key) == ("sent", "failed", "SMddd")
    assert consent(twilio, "a-1") == status
    assert history(twilio) == [("a-1", status, f"twilio_error_{code}")]
    assert consent(twilio, "b-1") == "subscribed"


def test_a_callback_for_an_unknown_message_is_recorded(twilio: Receiver) -> None:
    assert reply(post(twilio, callback("SMzzz", "delivered", to=STRANGER))) is None
    assert twilio.rows("SELECT action_run_id, event FROM message_event") == [(None, "delivered")]
    assert twilio.scalar("SELECT count(*) FROM action_run WHERE delivery_status IS NOT NULL") == 0


# --- a burst of duplicates -----------------------------------------------------------------


def test_a_burst_of_duplicates_is_applied_once(twilio: Receiver) -> None:
    _burst(twilio, 300)


@pytest.mark.storm
def test_a_storm_of_duplicates_is_applied_once(twilio: Receiver) -> None:
    # The same at the size the guarantee is checked at: pytest -m storm.
    _burst(twilio, 2000)


def _burst(twilio: Receiver, pairs: int) -> None:
    """A STOP and a delivery report, each sent `pairs` times from 16 threads at once."""
    key = action_key(twilio, "a-1", "reminder")
    mark(twilio, key, "sent", "SMeee")
    stop = sms("STOP")
    url = with_query(twilio.url + "/webhooks/twilio", idempotency_key=key)
    requests = [stop, callback("SMeee", "delivered")] * pairs

    def send(params: dict[str, str]) -> int:
        target = url if "MessageStatus" in params else None
        return post(twilio, params, url=target).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(send, requests))
    assert codes == [200] * len(requests)
    assert history(twilio) == [("a-1", "unsubscribed", "sms_keyword")]
    assert twilio.rows("SELECT event FROM message_event") == [("delivered",)]
    assert twilio.scalar("SELECT count(*) FROM inbound_event WHERE type LIKE 'sms.%'") == 2
    assert twilio.stored == [1]


# --- a STOP stops SMS at once --------------------------------------------------------------


def test_a_stop_blocks_the_next_sms_at_once(
    make_receiver: MakeReceiver, store_engine: Engine, tmp_path: Path
) -> None:
    ids = sign_up(store_engine)
    receiver = make_receiver(
        config(), env={"TWILIO_AUTH_TOKEN": TOKEN}, clock=lambda: T0 + timedelta(minutes=1)
    )

    assert reply(post(receiver, sms("Stop"))) is None

    # Once the answer is back, the send rules see the STOP; nothing else ran in between.
    with store_engine.connect() as conn:
        seen = consents_for(conn, ids.values(), ["sms"])
    assert seen == {(ids["a-1"], "sms"): "unsubscribed", (ids["b-1"], "sms"): "subscribed"}
    assert consent_check("sms", False, seen[(ids["a-1"], "sms")]) == Skip("unsubscribed")
    channels = {"sms": OutboxChannel(tmp_path / "outbox", kind="sms", durable=False)}
    renderer = Renderer(templates_dir(), LinkSigner("sms-secret-0123456789abcdef", "https://x"))
    now = T0 + timedelta(minutes=2)
    dispatch_due(store_engine, [JOURNEY], channels, renderer, now, policy=SendRules())
    with store_engine.connect() as conn:
        rows = conn.execute(
            select(customer_t.c.external_id, action_run_t.c.action_key, action_run_t.c.status)
            .join(customer_t, customer_t.c.id == action_run_t.c.customer_id)
            .order_by(customer_t.c.external_id, action_run_t.c.action_key)
        ).all()
    # The transactional notice too: after STOP the carriers refuse every SMS.
    assert [tuple(r) for r in rows] == [
        ("a-1", "notice", "skipped"),
        ("a-1", "reminder", "skipped"),
        ("b-1", "notice", "sent"),
        ("b-1", "reminder", "sent"),
    ]
