"""SendGrid's Event Webhook, through the running service.

Mails go out through the real SendGrid channel to a local SendGrid (channel_fakes), so
the events posted back carry exactly the custom_args and X-Message-Id a real send has.
Batches are signed here with `cryptography`, the ECDSA library the SendGrid SDK uses,
and verified by the service with the SDK's `EventWebhook`.
"""

from __future__ import annotations

import base64
import itertools
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from channel_fakes import SENDGRID_KEY, SendGridFake
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from receiver_harness import ON_BOTH_STORES, MakeReceiver, Receiver
from sqlalchemy import Engine, text
from sqlmodel import Session

from channels.email_sendgrid import SendGridChannel
from channels.inbound import ReceiverConfigError
from channels.links import LinkSigner
from channels.render import Renderer
from flows.dispatch import dispatch_due
from flows.send_rules import SendRules
from journeys import Journey
from journeys.config import templates_dir
from journeys.loader import parse_journey
from journeys.policy import Skip, consent_check
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    process_inbox,
    session_scope,
)
from journeys.store.feedback.message_events import message_stats
from journeys.store.people.consent import set_consent

SIGNATURE = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP = "X-Twilio-Email-Event-Webhook-Timestamp"
PRIVATE = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())


def shown_key(private: ec.EllipticCurvePrivateKey) -> str:
    """The public key the way SendGrid's settings page shows it: base64 DER."""
    der = private.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def signed(
    body: bytes, *, key: ec.EllipticCurvePrivateKey = PRIVATE, at: float | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    signature = key.sign(timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        SIGNATURE: base64.b64encode(signature).decode(),
        TIMESTAMP: timestamp,
    }


_ids = itertools.count(1)


def sg_event(event: str, email: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "email": email,
        "timestamp": int(at.timestamp()),
        "event": event,
        "sg_event_id": f"ev-{next(_ids)}",
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "category": ["journeyflow"],
        **fields,
    }


def post(receiver: Receiver, events: list[dict[str, Any]]) -> dict[str, Any]:
    body = json.dumps(events).encode()
    response = receiver.post("/webhooks/sendgrid", body, signed(body))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def sendgrid(make_receiver: MakeReceiver) -> Receiver:
    config = {"sources": {"sendgrid": {"kind": "sendgrid", "public_key": "${SG_KEY}"}}}
    return make_receiver(config, env={"SG_KEY": shown_key(PRIVATE)})


# --- customers who got a mail -------------------------------------------------------------

NOW = datetime.now(UTC).replace(microsecond=0)
JOURNEY = """\
journey: welcome
version: 1
name: Welcome
locale: de
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter:
      - {email: thank_you, marketing: false}
      - {after: 1d, email: thank_you, marketing: false, key: receipt}
      - {after: 1d, email: buying_guide, key: guide}
  - key: engaged
    enter_when: {event: email.clicked, from: [signup]}
"""
CUSTOMERS = {"k1": "Anna.K@Example.org", "k2": "anna.k@example.org", "k3": "ben@example.org"}


@dataclass
class Mail:
    customer: str
    to: str
    idempotency_key: str
    x_message_id: str
    custom_args: dict[str, str]

    def event(self, event: str, at: datetime, **fields: Any) -> dict[str, Any]:
        """An event as SendGrid posts it about this mail, custom_args flattened in."""
        sg_message_id = f"{self.x_message_id}.filterdrecv-5645d9c87f-78xgx-1-5F2B9A0A-27.0"
        return sg_event(
            event, self.to, at, sg_message_id=sg_message_id, **self.custom_args | fields
        )


class Shop:
    def __init__(self, engine: Engine, fake: SendGridFake) -> None:
        self.engine = engine
        self.journey: Journey = parse_journey(JOURNEY, "welcome.yaml")[0]
        self.channel = SendGridChannel(
            SENDGRID_KEY, base_url=fake.url, default_from_email="shop@example.org"
        )
        self.renderer = Renderer(
            templates_dir(), LinkSigner("sg-test-secret-0123456789", "https://x")
        )

    def sign_up(self) -> None:
        events = [
            IncomingEvent(
                source="shop",
                external_id=f"signup-{customer}",
                type="account.created",
                customer_id=customer,
                occurred_at=NOW,
                customer={"email": email, "locale": "de"},
            )
            for customer, email in CUSTOMERS.items()
        ]
        registry = self.registry = JourneyRegistry()
        with session_scope(self.engine) as session:
            registry.register(session, [self.journey])
            apply_events(session, registry, events, NOW)
            for customer in CUSTOMERS:
                set_consent(
                    session,
                    self.customer_id(session, customer),
                    "email",
                    "subscribed",
                    "signup",
                    NOW,
                )

    def customer_id(self, session: Session, external_id: str) -> int:
        return customer_id(session, external_id)

    def dispatch(self, now: datetime) -> dict[tuple[str, str], str]:
        dispatch_due(
            self.engine,
            [self.journey],
            {"email": self.channel},
            self.renderer,
            now,
            policy=SendRules(),
        )
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT c.external_id, a.action_key, a.status, coalesce(a.last_error, '') "
                "FROM action_run a JOIN customer c ON c.id = a.customer_id"
            ).all()
        return {(c, k): f"{s} {e}".strip() for c, k, s, e in rows}

    def mails(self, fake: SendGridFake) -> dict[str, Mail]:
        """The first mail of each customer, as the local SendGrid received it."""
        found: dict[str, Mail] = {}
        with self.engine.connect() as conn:
            rows = conn.exec_driver_sql(
                "SELECT a.idempotency_key, a.provider_message_id FROM action_run a "
                "WHERE a.action_key = 'thank_you'"
            ).all()
        x_ids: dict[str, str] = {str(key): str(x_id) for key, x_id in rows}
        for request in fake.requests:
            personalization = request.json["personalizations"][0]
            args = dict(personalization["custom_args"])
            found[args["customer_id"]] = Mail(
                customer=args["customer_id"],
                to=personalization["to"][0]["email"],
                idempotency_key=args["idempotency_key"],
                x_message_id=x_ids[args["idempotency_key"]],
                custom_args=args,
            )
        return found


@pytest.fixture
def shop(
    store_engine: Engine, sendgrid_fake: SendGridFake
) -> Iterator[tuple[Shop, dict[str, Mail]]]:
    shop = Shop(store_engine, sendgrid_fake)
    shop.sign_up()
    runs = shop.dispatch(NOW + timedelta(minutes=1))
    assert [runs[(c, "thank_you")] for c in CUSTOMERS] == ["sent"] * 3
    mails = shop.mails(sendgrid_fake)
    assert sorted(mails) == sorted(CUSTOMERS)
    yield shop, mails


def customer_id(session: Session, external_id: str) -> int:
    query = text("SELECT id FROM customer WHERE external_id = :c")
    return int(session.connection().execute(query, {"c": external_id}).scalar_one())


def consent(receiver: Receiver, customer: str) -> str | None:
    status: str | None = receiver.scalar(
        "SELECT s.status FROM consent s JOIN customer c ON c.id = s.customer_id "
        "WHERE c.external_id = :c AND s.channel = 'email'",
        c=customer,
    )
    return status


# --- the done-when: a bounce suppresses the address ---------------------------------------


@ON_BOTH_STORES
def test_a_bounce_suppresses_the_address_and_the_next_mail_is_skipped(
    sendgrid: Receiver, shop: tuple[Shop, dict[str, Mail]]
) -> None:
    store, mails = shop
    at = NOW + timedelta(minutes=2)
    bounce = mails["k1"].event(
        "bounce", at, type="bounce", reason="550 5.1.1 user unknown", status="5.1.1"
    )

    assert post(sendgrid, [bounce]) == {"received": 1, "new": 1, "duplicates": 0, "matched": 1}

    # Both customers with that address (the case differs), not the third one.
    assert [consent(sendgrid, c) for c in ("k1", "k2", "k3")] == [
        "suppressed",
        "suppressed",
        "subscribed",
    ]
    assert consent_check("email", False, "suppressed") == Skip("suppressed")
    assert sendgrid.rows(
        "SELECT a.delivery_status, e.event, e.provider FROM action_run a "
        "JOIN message_event e ON e.action_run_id = a.id"
    ) == [("bounce", "bounce", "sendgrid")]
    # A delivery report is kept for the record; the engine does not see it (it is not
    # something the customer did).
    assert sendgrid.rows(
        "SELECT type, customer_id, processed_at IS NOT NULL FROM inbound_event"
        " WHERE source = 'sendgrid'"
    ) == [("email.bounced", "k1", True)]
    assert sendgrid.stored == []

    runs = store.dispatch(NOW + timedelta(days=1, minutes=5))
    for customer in ("k1", "k2"):  # even the transactional receipt: the address is dead
        assert runs[(customer, "receipt")] == "skipped suppressed"
        assert runs[(customer, "guide")] == "skipped suppressed"
    assert runs[("k3", "receipt")] == "sent"
    assert runs[("k3", "guide")] == "sent"


@ON_BOTH_STORES
def test_delivered_open_and_click_count_in_the_message_stats(
    sendgrid: Receiver, shop: tuple[Shop, dict[str, Mail]]
) -> None:
    store, mails = shop
    at = NOW + timedelta(minutes=2)
    by_args, by_id = mails["k1"], mails["k3"]
    # k3's events without custom_args: matched through sg_message_id alone.
    plain = Mail(by_id.customer, by_id.to, by_id.idempotency_key, by_id.x_message_id, {})
    events = [
        by_args.event("processed", at),
        by_args.event("delivered", at + timedelta(seconds=5)),
        by_args.event("open", at + timedelta(minutes=1)),
        by_args.event("open", at + timedelta(minutes=2)),  # opened twice, counted once
        by_args.event("click", at + timedelta(minutes=3), url="https://x/p/1?token=secret"),
        plain.event("delivered", at + timedelta(seconds=7)),
        plain.event("open", at + timedelta(minutes=4)),
    ]

    assert post(sendgrid, events) == {"received": 7, "new": 7, "duplicates": 0, "matched": 7}

    with Session(sendgrid.engine) as session:
        [stats] = message_stats(session)
    assert (stats.journey, stats.action_key) == ("welcome", "thank_you")
    assert (stats.sent, stats.delivered, stats.opened, stats.clicked, stats.bounced) == (
        3,
        2,
        2,
        1,
        0,
    )
    assert dict(
        sendgrid.rows(
            "SELECT c.external_id, a.delivery_status FROM action_run a "
            "JOIN customer c ON c.id = a.customer_id WHERE a.action_key = 'thank_you'"
        )
    ) == {"k1": "delivered", "k2": None, "k3": "delivered"}
    types = sendgrid.rows(
        "SELECT customer_id, type FROM inbound_event WHERE source = 'sendgrid' "
        "AND processed_at IS NULL ORDER BY occurred_at"
    )
    # What the recipients did waits for the engine; delivery reports are records only.
    assert {t for _, t in types} == {"email.opened", "email.clicked"}
    assert ("k3", "email.opened") in types and ("k1", "email.clicked") in types
    records = sendgrid.rows(
        "SELECT type FROM inbound_event WHERE source = 'sendgrid' AND processed_at IS NOT NULL"
    )
    assert {r[0] for r in records} == {"email.processed", "email.delivered"}
    # The click's query (a link token) is not kept; the address never is.
    payloads = " ".join(str(r[0]) for r in sendgrid.rows("SELECT payload FROM inbound_event"))
    assert "https://x/p/1" in payloads and "secret" not in payloads
    assert "example.org" not in payloads.lower()
    assert [consent(sendgrid, c) for c in CUSTOMERS] == ["subscribed"] * 3

    # The engine applies them: the click moves k1 on in the journey.
    with session_scope(sendgrid.engine) as session:
        process_inbox(session, store.registry, at + timedelta(minutes=5))
    assert sendgrid.scalar("SELECT count(*) FROM inbound_event WHERE processed_at IS NULL") == 0
    assert dict(
        sendgrid.rows(
            "SELECT c.external_id, e.stage FROM enrollment e "
            "JOIN customer c ON c.id = e.customer_id"
        )
    ) == {"k1": "engaged", "k2": "signup", "k3": "signup"}


# --- which events change consent ----------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"event": "bounce", "type": "bounce"}, "suppressed"),
        ({"event": "bounce", "type": "blocked", "reason": "421 try later"}, "subscribed"),
        ({"event": "dropped", "reason": "Bounced Address"}, "suppressed"),
        ({"event": "dropped", "reason": "Invalid"}, "suppressed"),
        ({"event": "dropped", "reason": "Spam Reporting Address"}, "suppressed"),
        ({"event": "dropped", "reason": "Unsubscribed Address"}, "unsubscribed"),
        (
            {"event": "dropped", "reason": "Spam Content (if spam checker app enabled)"},
            "subscribed",
        ),
        ({"event": "spamreport"}, "suppressed"),
        ({"event": "unsubscribe"}, "unsubscribed"),
        ({"event": "group_unsubscribe", "asm_group_id": 42}, "unsubscribed"),
        ({"event": "deferred", "response": "400 try again later"}, "subscribed"),
        ({"event": "group_resubscribe", "asm_group_id": 42}, "subscribed"),
    ],
)
def test_which_events_change_the_address_consent(
    sendgrid: Receiver, shop: tuple[Shop, dict[str, Mail]], fields: dict[str, Any], expected: str
) -> None:
    _, mails = shop
    event = mails["k3"].event(fields.pop("event"), NOW + timedelta(minutes=2), **fields)
    post(sendgrid, [event])
    assert consent(sendgrid, "k3") == expected
    assert consent(sendgrid, "k1") == "subscribed"


def test_an_unsubscribe_after_a_spam_report_leaves_the_address_suppressed(
    sendgrid: Receiver, shop: tuple[Shop, dict[str, Mail]]
) -> None:
    _, mails = shop
    at = NOW + timedelta(minutes=2)
    post(sendgrid, [mails["k3"].event("spamreport", at)])
    post(sendgrid, [mails["k3"].event("unsubscribe", at + timedelta(minutes=1))])
    # Still nothing, not even transactional mail, goes to a complainer.
    assert consent(sendgrid, "k3") == "suppressed"
    assert sendgrid.rows(
        "SELECT h.status, h.detail FROM consent_change h JOIN customer c ON c.id = h.customer_id "
        "WHERE c.external_id = 'k3' ORDER BY h.id DESC LIMIT 1"
    ) == [("unsubscribed", "not applied: the address stays suppressed")]


@ON_BOTH_STORES
def test_events_without_an_action_are_kept_for_the_record(
    sendgrid: Receiver, shop: tuple[Shop, dict[str, Mail]]
) -> None:
    at = NOW + timedelta(minutes=2)
    # A mail sent outside journeyflow to a known address, and a type SendGrid may add.
    foreign = sg_event("spamreport", "BEN@example.org", at, sg_message_id="unknown.filter-1")
    future = sg_event("machine_open", "ben@example.org", at, sg_message_id="unknown.filter-1")

    assert post(sendgrid, [foreign, future])["matched"] == 0

    assert consent(sendgrid, "k3") == "suppressed"  # the address is ours all the same
    assert set(
        sendgrid.rows(
            "SELECT type, customer_id, processed_at IS NOT NULL FROM inbound_event "
            "WHERE source = 'sendgrid'"
        )
    ) == {("email.spam_reported", "(unmatched)", True), ("email.other", "(unmatched)", True)}
    assert sendgrid.rows("SELECT event, action_run_id FROM message_event") == [("spamreport", None)]
    assert sendgrid.stored == []  # nothing for the engine


# --- replays, reordering, bursts ------------------------------------------------------------


@ON_BOTH_STORES
def test_reordered_events_leave_the_newest_state(
    sendgrid: Receiver, shop: tuple[Shop, dict[str, Mail]]
) -> None:
    _, mails = shop
    mail = mails["k1"]
    at = NOW + timedelta(minutes=2)
    processed = mail.event("processed", at)
    deferred = mail.event("deferred", at + timedelta(minutes=1))
    delivered = mail.event("delivered", at + timedelta(minutes=30))
    for event in (delivered, deferred, processed):  # newest first, one batch each
        post(sendgrid, [event])
    assert (
        sendgrid.scalar(
            "SELECT delivery_status FROM action_run WHERE idempotency_key = :k",
            k=mail.idempotency_key,
        )
        == "delivered"
    )

    # The customer fixed the address and opted in again; the old bounce arrives late.
    with session_scope(sendgrid.engine) as session:
        set_consent(
            session,
            customer_id(session, "k3"),
            "email",
            "subscribed",
            "double opt-in",
            at + timedelta(hours=2),
        )
    post(sendgrid, [mails["k3"].event("bounce", at + timedelta(hours=1), type="bounce")])
    assert consent(sendgrid, "k3") == "subscribed"
    assert sendgrid.rows(
        "SELECT h.status, h.source FROM consent_change h JOIN customer c ON c.id = h.customer_id "
        "WHERE c.external_id = 'k3' ORDER BY h.id DESC LIMIT 1"
    ) == [("suppressed", "sendgrid_bounce")]


@ON_BOTH_STORES
def test_a_burst_of_duplicates_is_applied_once(
    sendgrid: Receiver, shop: tuple[Shop, dict[str, Mail]]
) -> None:
    _, mails = shop
    at = NOW + timedelta(minutes=2)
    events = [
        mails[c].event("open", at + timedelta(seconds=i)) for i in range(600) for c in ("k1", "k3")
    ]
    events += [mails["k1"].event("bounce", at, type="bounce"), mails["k3"].event("unsubscribe", at)]
    body = json.dumps(events).encode()
    half = json.dumps(events[::2]).encode()
    # Batches of their own about the same two mails, in opposite orders.
    others = [
        [
            mails[c].event("deferred", at + timedelta(minutes=b, seconds=i))
            for c in order
            for i in range(50)
        ]
        for b, order in enumerate([("k1", "k3"), ("k3", "k1")] * 4)
    ]
    distinct = len(events) + sum(len(batch) for batch in others)  # 1,602
    contents = [body, half] * 6 + [json.dumps(batch).encode() for batch in others]

    with ThreadPoolExecutor(max_workers=8) as pool:
        # The whole batch, overlapping halves and the other batches, all at once.
        futures = [
            pool.submit(
                sendgrid.client.post, "/webhooks/sendgrid", content=content, headers=signed(content)
            )
            for content in contents
        ]
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * len(contents)
    replays = [post(sendgrid, events) for _ in range(3)]  # SendGrid retrying a whole batch

    assert sum(r.json()["new"] for r in responses) == distinct
    assert (
        replays
        == [{"received": len(events), "new": 0, "duplicates": len(events), "matched": 0}] * 3
    )
    assert (
        sendgrid.scalar("SELECT count(*) FROM inbound_event WHERE source = 'sendgrid'") == distinct
    )
    assert sendgrid.scalar("SELECT count(*) FROM message_event") == distinct
    # Opens and the unsubscribe are the recipients' doing: only they wait for the engine.
    assert sum(sendgrid.stored) == 2 * 600 + 1
    assert sendgrid.rows(
        "SELECT c.external_id, h.status FROM consent_change h "
        "JOIN customer c ON c.id = h.customer_id "
        "WHERE h.source LIKE 'sendgrid%' ORDER BY c.external_id"
    ) == [("k1", "suppressed"), ("k2", "suppressed"), ("k3", "unsubscribed")]


# --- refusals ----------------------------------------------------------------------------------


def _one_event() -> bytes:
    at = datetime.now(UTC)
    return json.dumps(
        [sg_event("delivered", "ben@example.org", at, idempotency_key="k-1")]
    ).encode()


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: (h, b.replace(b"delivered", b"delivereD")), "does not match"),
        (lambda h, b: ({**h, TIMESTAMP: str(int(h[TIMESTAMP]) - 1)}, b), "does not match"),
        (lambda h, b: (signed(b, key=OTHER), b), "does not match"),
        (lambda h, b: ({**h, SIGNATURE: "not base64!"}, b), "does not match"),
        (
            lambda h, b: ({**h, SIGNATURE: base64.b64encode(b"x" * 70).decode()}, b),
            "does not match",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != SIGNATURE}, b),
            f"missing header {SIGNATURE}",
        ),
        (
            lambda h, b: ({k: v for k, v in h.items() if k != TIMESTAMP}, b),
            f"missing header {TIMESTAMP}",
        ),
    ],
    ids=["body", "timestamp", "other-key", "garbage", "not-der", "no-signature", "no-timestamp"],
)
def test_tampering_is_refused_with_401(sendgrid: Receiver, tamper: Any, reason: str) -> None:
    body = _one_event()
    headers, sent = tamper(signed(body), body)
    response = sendgrid.post("/webhooks/sendgrid", sent, headers)
    assert response.status_code == 401, response.text
    assert reason in response.json()["error"]
    assert sendgrid.scalar("SELECT count(*) FROM inbound_event") == 0


def test_the_signed_batch_itself_is_accepted(sendgrid: Receiver) -> None:
    # The counterpart of the tampering cases: the same body, untouched.
    body = _one_event()
    assert sendgrid.post("/webhooks/sendgrid", body, signed(body)).status_code == 200


# Half a minute past the tolerance on either side: the header carries whole seconds
# (truncated) and the request takes time under load, so 301 s can arrive as 299.
@pytest.mark.parametrize("offset", [-330, 330])
def test_a_timestamp_outside_five_minutes_is_refused(sendgrid: Receiver, offset: int) -> None:
    body = _one_event()
    response = sendgrid.post("/webhooks/sendgrid", body, signed(body, at=time.time() + offset))
    assert response.status_code == 401
    assert "tolerance is ±300 s" in response.json()["error"]
    assert TIMESTAMP in response.json()["error"]


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b"[{not json", 400, "not JSON"),
        (b'{"event": "open"}', 422, "expected a JSON array"),
        (b'[{"event": "open", "email": "a@b.c", "timestamp": 1700000000}]', 422, "0.sg_event_id"),
        (
            b'[{"event": "open", "email": "a@b.c", "timestamp": 1700000000, "sg_event_id": "a"},'
            b' {"event": "open", "email": "a@b.c", "timestamp": "yesterday", "sg_event_id": "b"}]',
            422,
            "1.timestamp",
        ),
        (b'[{"event": "open", "timestamp": 1700000000, "sg_event_id": "a"}]', 422, "0.email"),
        (b"[1]", 422, "0"),
    ],
)
def test_malformed_batches_get_400_or_422_naming_the_field(
    sendgrid: Receiver, body: bytes, status: int, named: str
) -> None:
    response = sendgrid.post("/webhooks/sendgrid", body, signed(body))
    assert response.status_code == status, response.text
    assert named in response.json()["error"]
    assert sendgrid.scalar("SELECT count(*) FROM inbound_event") == 0


@pytest.mark.parametrize("key", ["not-a-key", base64.b64encode(b"\x30\x03\x01\x01\x00").decode()])
def test_a_bad_public_key_is_a_config_error_naming_the_field(
    make_receiver: MakeReceiver, key: str
) -> None:
    config = {"sources": {"sendgrid": {"kind": "sendgrid", "public_key": key}}}
    with pytest.raises(ReceiverConfigError, match=r"sources\.sendgrid\.public_key: not an ECDSA"):
        make_receiver(config)


def test_the_key_may_be_pasted_with_its_pem_lines(make_receiver: MakeReceiver) -> None:
    pem = f"-----BEGIN PUBLIC KEY-----\n{shown_key(PRIVATE)}\n-----END PUBLIC KEY-----\n"
    receiver = make_receiver({"sources": {"sendgrid": {"kind": "sendgrid", "public_key": pem}}})
    body = _one_event()
    assert receiver.post("/webhooks/sendgrid", body, signed(body)).status_code == 200


def test_mails_of_other_systems_with_numeric_custom_args_are_accepted(sendgrid: Receiver) -> None:
    body = json.dumps(
        [sg_event("open", "ben@example.org", datetime.now(UTC), journey=7, variant=2.5)]
    ).encode()
    response = sendgrid.post("/webhooks/sendgrid", body, signed(body))
    assert response.json() == {"received": 1, "new": 1, "duplicates": 0, "matched": 0}
    stored = sendgrid.scalar("SELECT payload FROM inbound_event")
    payload = stored if isinstance(stored, dict) else json.loads(stored)
    assert (payload["journey"], payload["variant"]) == ("7", "2.5")


def test_the_api_description_names_the_signature_headers(sendgrid: Receiver) -> None:
    operation = sendgrid.client.get("/openapi.json").json()["paths"]["/webhooks/sendgrid"]["post"]
    assert {p["name"] for p in operation["parameters"]} == {SIGNATURE, TIMESTAMP}
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "array"
    assert {"event", "email", "timestamp", "sg_event_id"} <= set(schema["items"]["required"])
