"""Signed requests to a receiver with every kind of source, signed as each sender signs.

Twilio with the SDK's own `RequestValidator`, SendGrid's ECDSA with `cryptography` (the
library its SDK verifies with), HubSpot v3 and Standard Webhooks with their HMAC
recipes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from receiver_harness import MakeReceiver, Receiver
from twilio.request_validator import RequestValidator

PUBLIC = "https://hooks.example.com"
SHOP_KEY = b"0123456789abcdef0123456789abcdef"
HUBSPOT_SECRET = "hubspot-client-secret-0123456789"
TWILIO_TOKEN = "twilio-auth-token-0123456789abcdef"
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())


def shown_key(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(der).decode()


def all_sources(make_receiver: MakeReceiver) -> Receiver:
    """A receiver with one source of each kind: shop and crm (Standard Webhooks),
    hubspot, twilio and sendgrid, each with the secret the helpers below sign with."""
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
        "SENDGRID": shown_key(SENDGRID_KEY),
    }
    return make_receiver(config, env=env)


# --- signing as each sender does ------------------------------------------------------------

_ids = iter(range(10**9))


def _standard(path: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    # A redelivery keeps its webhook-id (the event id of a single event without one).
    msg_id, stamp = delivery or f"msg-{next(_ids)}", str(int(time.time()))
    mac = hmac.new(SHOP_KEY, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def _hubspot(path: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time() * 1000))
    source = b"POST" + (PUBLIC + path).encode() + body + stamp.encode()
    digest = hmac.new(HUBSPOT_SECRET.encode(), source, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def _sendgrid(path: str, body: bytes, delivery: str | None = None) -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


JSON_SOURCES: dict[str, Callable[[str, bytes, str | None], dict[str, str]]] = {
    "shop": _standard,
    "crm": _standard,
    "hubspot": _hubspot,
    "sendgrid": _sendgrid,
}


def post_json(
    receiver: Receiver, source: str, body: bytes, delivery: str | None = None
) -> httpx.Response:
    """`body` signed as `source` signs it; `delivery` repeats a Standard Webhooks id."""
    path = f"/webhooks/{source}"
    return receiver.post(path, body, JSON_SOURCES[source](path, body, delivery))


def post_form(receiver: Receiver, params: dict[str, str]) -> httpx.Response:
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        PUBLIC + "/webhooks/twilio", params
    )
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature,
    }
    return receiver.post("/webhooks/twilio", urlencode(params).encode(), headers)


def stored_events(receiver: Receiver) -> int:
    return int(receiver.scalar("SELECT count(*) FROM inbound_event"))
