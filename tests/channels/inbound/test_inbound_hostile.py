"""Hostile bodies, correctly signed: never a 5xx (senders retry every 5xx, so one bad
message would become a retry storm), always a 4xx naming the problem, the service keeps
answering, and what it accepted is stored once.

Each source is signed the way its sender signs: Twilio with the SDK's own
`RequestValidator`, SendGrid's ECDSA with `cryptography` (the library its SDK verifies
with), HubSpot v3 and Standard Webhooks with their HMAC recipes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import time
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_harness import MakeReceiver, Receiver
from twilio.request_validator import RequestValidator

PUBLIC = "https://hooks.example.com"
SHOP_KEY = b"0123456789abcdef0123456789abcdef"
HUBSPOT_SECRET = "hubspot-client-secret-0123456789"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


def _shown(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


@pytest.fixture
def receiver(make_receiver: MakeReceiver) -> Receiver:
    config = {
        "public_url": PUBLIC,
        "sources": {
            "shop": {"kind": "standard_webhooks", "secrets": ["${SHOP}"]},
            "crm": {"kind": "standard_webhooks", "secrets": ["${SHOP}"]},
            "hubspot": {"kind": "hubspot", "client_secret": "${HUBSPOT}"},
            "twilio": {"kind": "twilio", "auth_token": "${TWILIO}"},
            "sendgrid": {"kind": "sendgrid", "public_key": "${SENDGRID}"},
        },
    }
    env = {
        "SHOP": "whsec_" + base64.b64encode(SHOP_KEY).decode(),
        "HUBSPOT": HUBSPOT_SECRET,
        "TWILIO": TWILIO_TOKEN,
        "SENDGRID": _shown(SENDGRID_KEY),
    }
    return make_receiver(config, env=env)


# --- signing as each sender does ------------------------------------------------------------

_ids = iter(range(10**9))


def _standard(path: str, body: bytes) -> dict[str, str]:
    msg_id, stamp = f"msg-{next(_ids)}", str(int(time.time()))
    mac = hmac.new(SHOP_KEY, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def _hubspot(path: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    source = b"POST" + (PUBLIC + path).encode() + body + stamp.encode()
    digest = hmac.new(HUBSPOT_SECRET.encode(), source, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def _sendgrid(path: str, body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


JSON_SOURCES: dict[str, Callable[[str, bytes], dict[str, str]]] = {
    "shop": _standard,
    "crm": _standard,
    "hubspot": _hubspot,
    "sendgrid": _sendgrid,
}


def post_json(receiver: Receiver, source: str, body: bytes) -> httpx.Response:
    path = f"/webhooks/{source}"
    return receiver.post(path, body, JSON_SOURCES[source](path, body))


def post_form(receiver: Receiver, params: dict[str, str]) -> httpx.Response:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        PUBLIC + "/webhooks/twilio", params
    )
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return receiver.post("/webhooks/twilio", urlencode(params).encode(), headers)


def _events(receiver: Receiver) -> int:
    return int(receiver.scalar("SELECT count(*) FROM inbound_event"))


# --- what was found: each named -------------------------------------------------------------


def _deep(levels: int) -> bytes:
    return b'{"type": "order.completed", "data": ' + b"[" * levels + b"]" * levels + b"}"


@pytest.mark.parametrize("source", sorted(JSON_SOURCES))
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (_deep(5000), "nests deeper than"),
        (_deep(40), "nests deeper than"),
        (b'[{"customer_id": "c", "data": {"n": ' + b"9" * 5000 + b"}}]", "digits"),
        (b'{"type": "x", "data": {"n": 1e999}}', "out of range"),
        (b'{"type": "x", "data": {"n": NaN}}', "not a JSON value"),
        (b'{"type": "x", "data": {"n": -Infinity}}', "not a JSON value"),
        (b"\xff\xfe not utf-8", "not UTF-8"),
    ],
    ids=["deep-5000", "deep-40", "int-5000-digits", "float-overflow", "nan", "infinity", "bytes"],
)
def test_a_hostile_json_body_is_refused_with_400_and_a_reason(
    receiver: Receiver, source: str, body: bytes, reason: str
) -> None:
    response = post_json(receiver, source, body)
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    assert _events(receiver) == 0


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"MessageSid": "SM" + "a" * 300, "MessageStatus": "delivered"}, "MessageSid"),
        ({"MessageSid": "SM1", "MessageStatus": "x" * 200}, "MessageStatus"),
        ({"MessageSid": "SM" + "b" * 300, "From": "+4915112345678", "Body": "hi"}, "MessageSid"),
        ({"MessageSid": "SM2", "From": "+49" + "1" * 300, "Body": "hi"}, "From"),
    ],
    ids=["long-sid-callback", "long-status", "long-sid-inbound", "long-from"],
)
def test_a_twilio_field_too_long_is_refused_with_422_naming_it(
    receiver: Receiver, params: dict[str, str], field: str
) -> None:
    response = post_form(receiver, params)
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]
    assert _events(receiver) == 0


def test_advanced_opt_out_is_not_answered_twice(receiver: Receiver) -> None:
    base = {"From": "+4915112345678", "To": "+4930123456", "AccountSid": "AC" + "0" * 32}
    ours = post_form(receiver, {**base, "MessageSid": "SM-help-1", "Body": "HELP"})
    theirs = post_form(
        receiver, {**base, "MessageSid": "SM-help-2", "Body": "HELP", "OptOutType": "HELP"}
    )
    custom = post_form(
        receiver, {**base, "MessageSid": "SM-stop-1", "Body": "ARRET", "OptOutType": "STOP"}
    )
    assert "<Message>" in ours.text  # without Advanced Opt-Out, journeyflow answers HELP
    assert theirs.status_code == 200 and "<Message>" not in theirs.text
    assert custom.status_code == 200 and "<Message>" not in custom.text
    types = receiver.rows("SELECT external_id, type FROM inbound_event ORDER BY external_id")
    # Twilio's class of the keyword counts, also for a word journeyflow does not know.
    assert ("SM-stop-1", "sms.opted_out") in [tuple(r) for r in types]


# --- anything at all ------------------------------------------------------------------------

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**80), max_value=10**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
_json = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
_field_values = _json | st.sampled_from(
    ["order.completed", "c-1", "2026-03-01T10:15:00Z", "delivered", "a" * 300, "1" * 40]
)
_event = st.fixed_dictionaries(
    {},
    optional={
        name: _field_values
        for name in (
            "type",
            "customer_id",
            "occurred_at",
            "external_id",
            "data",
            "customer",
            "email",
            "event",
            "timestamp",
            "sg_event_id",
            "eventId",
            "objectId",
            "propertyName",
            "propertyValue",
            "occurredAt",
            "subscriptionType",
        )
    },
)
_bodies = (
    _json.map(lambda v: json.dumps(v).encode())
    | _event.map(lambda v: json.dumps(v).encode())
    | st.lists(_event, max_size=3).map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
)
_form_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60) | st.sampled_from(
    ["SM" + "f" * 32, "delivered", "STOP", "HELP", "+4915112345678", "21610", "x" * 400]
)
_forms = st.dictionaries(
    st.sampled_from(
        ["MessageSid", "From", "To", "Body", "MessageStatus", "ErrorCode", "OptOutType", "Other"]
    ),
    _form_text,
    max_size=7,
)


def _never_5xx(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(("application/json", "text/xml"))


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(source=st.sampled_from(sorted(JSON_SOURCES)), body=_bodies)
def test_any_signed_json_body_gets_an_answer_below_500_and_is_stored_once(
    receiver: Receiver, source: str, body: bytes
) -> None:
    before = _events(receiver)
    first = post_json(receiver, source, body)
    _never_5xx(first)
    after = _events(receiver)
    if first.status_code != 200:
        assert after == before  # refused: nothing of it stored
        return
    # The same delivery again (same body; the signature is fresh) stores nothing new,
    # for the sources whose event ids come from the body.
    if source in ("hubspot", "sendgrid"):
        again = post_json(receiver, source, body)
        _never_5xx(again)
        assert _events(receiver) == after
    assert receiver.client.get("/healthz").status_code == 200


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=_forms)
def test_any_signed_twilio_form_gets_an_answer_below_500_and_is_stored_once(
    receiver: Receiver, params: dict[str, str]
) -> None:
    before = _events(receiver)
    first = post_form(receiver, params)
    _never_5xx(first)
    after = _events(receiver)
    if first.status_code != 200:
        assert after == before
        return
    again = post_form(receiver, params)
    _never_5xx(again)
    assert _events(receiver) == after  # a redelivery (same MessageSid) is applied once


def test_the_checks_take_numbers_as_json_does() -> None:
    # The bounds refuse what cannot be stored, not ordinary numbers.
    from channels.inbound.json_body import load_json

    assert load_json(b'{"a": 12345678901234567890, "b": 1.5e300, "c": [[[]]]}') == {
        "a": 12345678901234567890,
        "b": 1.5e300,
        "c": [[[]]],
    }
    assert math.isfinite(load_json(b"-1e308"))
