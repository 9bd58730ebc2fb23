"""HubSpot webhooks through the running service, applied by the engine with `five_phases`.

Signatures are computed here from HubSpot's definition (base64 HMAC-SHA256 of method +
URI + body + millisecond timestamp, with a fixed set of %-encodings decoded in the URI),
not with the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from receiver_harness import MakeReceiver, Receiver

from channels.inbound import ReceiverConfigError, parse_receiver_config
from journeys.config import PROJECT_ROOT
from journeys.model import Journey
from journeys.store import JourneyRegistry, process_inbox, session_scope
from journeys.validate import load_journeys

SECRET = "7a2f5c1e-hubspot-client-secret"
PUBLIC = "https://hooks.example.com"
URL = f"{PUBLIC}/webhooks/hubspot"
PORTAL = 62515
# HubSpot's table of characters it decodes in the URI before signing.
HUBSPOT_DECODES = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


def sign(
    url: str,
    body: bytes,
    *,
    secret: str = SECRET,
    at_ms: int | None = None,
    method: str = "POST",
) -> dict[str, str]:
    timestamp = str(int(time.time() * 1000) if at_ms is None else at_ms)
    uri = url
    for encoded, plain in HUBSPOT_DECODES.items():
        uri = uri.replace(encoded, plain).replace(encoded.lower(), plain)
    source = method.encode() + uri.encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(digest).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def change(
    event_id: int,
    contact: int,
    value: Any,
    *,
    minutes: float = 0,
    prop: str = "lifecyclestage",
    subscription: str = "contact.propertyChange",
) -> dict[str, Any]:
    """A HubSpot event as its webhooks send it, `minutes` after T0."""
    return {
        "eventId": event_id,
        "subscriptionId": 4711,
        "portalId": PORTAL,
        "appId": 54321,
        "occurredAt": int((T0 + timedelta(minutes=minutes)).timestamp() * 1000),
        "subscriptionType": subscription,
        "attemptNumber": 0,
        "objectId": contact,
        "changeSource": "CRM_UI",
        "propertyName": prop,
        "propertyValue": value,
    }


def post(receiver: Receiver, events: Any, path: str = "/webhooks/hubspot") -> Any:
    body = json.dumps(events).encode()
    return receiver.post(path, body, sign(PUBLIC + path, body))


def hubspot_config(**source: Any) -> dict[str, Any]:
    return {
        "public_url": PUBLIC,
        "sources": {
            "hubspot": {"kind": "hubspot", "client_secret": "${HUBSPOT_CLIENT_SECRET}", **source}
        },
    }


@pytest.fixture
def hubspot(make_receiver: MakeReceiver) -> Receiver:
    return make_receiver(hubspot_config(), env={"HUBSPOT_CLIENT_SECRET": SECRET})


@pytest.fixture(scope="module")
def five_phases() -> Journey:
    path = PROJECT_ROOT / "journeys" / "definitions" / "five_phases.yaml"
    (journey,) = load_journeys([path])
    return journey


def run_engine(receiver: Receiver, journey: Journey) -> int:
    """Apply what waits in the inbox, as the ingest flow does; returns the events applied."""
    registry = JourneyRegistry()
    with session_scope(receiver.engine) as session:
        registry.register(session, [journey])
        return process_inbox(session, registry, datetime.now(UTC)).events


def transitions(receiver: Receiver, contact: str) -> list[tuple[str | None, str]]:
    rows = receiver.rows(
        "SELECT t.from_stage, t.to_stage FROM stage_transition t "
        "JOIN customer c ON c.id = t.customer_id WHERE c.external_id = :c ORDER BY t.id",
        c=contact,
    )
    return [(a, b) for a, b in rows]


def stage(receiver: Receiver, contact: str) -> str:
    return str(
        receiver.scalar(
            "SELECT e.stage FROM enrollment e JOIN customer c ON c.id = e.customer_id "
            "WHERE c.external_id = :c AND e.journey = 'five_phases'",
            c=contact,
        )
    )


def test_a_batch_is_stored_before_the_answer_and_moves_the_contact(
    hubspot: Receiver, five_phases: Journey
) -> None:
    batch = [
        change(1, 101, "subscriber", minutes=1),
        change(2, 101, "anna@example.com", prop="email"),
        change(3, 101, "NEW", prop="hs_lead_status", minutes=2),
        {**change(4, 102, None), "subscriptionType": "contact.creation", "propertyName": None},
    ]
    response = post(hubspot, batch)
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 4, "new": 4, "duplicates": 0, "ignored": 2}
    rows = hubspot.rows(
        "SELECT type, customer_id, processed_at IS NULL FROM inbound_event ORDER BY type"
    )
    assert rows == [
        ("crm.contact.updated", "101", 1),
        ("crm.lifecycle.subscriber", "101", 1),
        ("hubspot.contact.creation", "102", 0),
        ("hubspot.contact.property_change", "101", 0),
    ]
    assert hubspot.stored == [2]

    assert run_engine(hubspot, five_phases) == 2
    assert stage(hubspot, "101") == "awareness"
    assert hubspot.scalar("SELECT email FROM customer WHERE external_id = '101'") == (
        "anna@example.com"
    )
    actions = hubspot.rows("SELECT stage, kind, template FROM action_run")
    assert ("awareness", "email", "welcome") in actions
    assert hubspot.scalar("SELECT count(*) FROM customer WHERE external_id = '102'") == 0


def test_a_custom_numeric_stage_maps_like_a_named_one(
    make_receiver: MakeReceiver, five_phases: Journey
) -> None:
    # As YAML reads `lifecyclestage: {1234567: crm.lifecycle.lead}`: an integer key.
    config = hubspot_config(
        lifecyclestage={1234567: "crm.lifecycle.lead", "other": None},
        customer_id="hs-{portalId}-{objectId}",
    )
    receiver = make_receiver(config, env={"HUBSPOT_CLIENT_SECRET": SECRET})
    batch = [
        change(10, 7, "1234567", minutes=1),
        change(11, 8, "7654321", minutes=1),  # a custom stage nobody mapped
        change(12, 9, "other", minutes=1),  # a default switched off
        change(13, 9, "customer", minutes=2),  # the defaults still apply
    ]
    response = post(receiver, batch)
    assert response.json() == {"received": 4, "new": 4, "duplicates": 0, "ignored": 2}
    applied = receiver.rows(
        "SELECT customer_id, type FROM inbound_event WHERE processed_at IS NULL ORDER BY type"
    )
    assert applied == [
        (f"hs-{PORTAL}-9", "crm.lifecycle.customer"),
        (f"hs-{PORTAL}-7", "crm.lifecycle.lead"),
    ]
    run_engine(receiver, five_phases)
    assert stage(receiver, f"hs-{PORTAL}-7") == "consideration"
    assert stage(receiver, f"hs-{PORTAL}-9") == "purchase"
    assert (
        receiver.scalar(f"SELECT count(*) FROM customer WHERE external_id = 'hs-{PORTAL}-8'") == 0
    )


def test_thousands_of_duplicate_deliveries_are_stored_and_applied_once(
    hubspot: Receiver, five_phases: Journey
) -> None:
    unique = [change(1000 + i, 5000 + i, "lead", minutes=i / 100) for i in range(200)]
    rng = random.Random(7)
    responses = []
    for _ in range(4):  # big batches: every event plus 800 redeliveries, shuffled
        batch = unique + [{**rng.choice(unique), "attemptNumber": 1} for _ in range(800)]
        rng.shuffle(batch)
        responses.append(post(hubspot, batch))
    chunks = [rng.sample(unique, 100) for _ in range(40)]
    with ThreadPoolExecutor(8) as pool:  # and many smaller ones at once
        responses += list(pool.map(lambda chunk: post(hubspot, chunk), chunks))

    assert {r.status_code for r in responses} == {200}
    counts = [r.json() for r in responses]
    assert sum(c["received"] for c in counts) == 4 * 1000 + 40 * 100
    assert sum(c["new"] for c in counts) == 200
    assert hubspot.scalar("SELECT count(*) FROM inbound_event") == 200

    assert run_engine(hubspot, five_phases) == 200
    assert run_engine(hubspot, five_phases) == 0
    assert hubspot.scalar("SELECT count(*) FROM stage_transition") == 200
    assert hubspot.scalar("SELECT count(*) FROM action_run") == 200  # one buying guide each
    again = post(hubspot, unique[:100])
    assert again.json() == {"received": 100, "new": 0, "duplicates": 100, "ignored": 0}


def test_out_of_order_changes_apply_in_occurred_order(
    hubspot: Receiver, five_phases: Journey
) -> None:
    # Arrival order: the newest first, the oldest last, a stale lead in between.
    post(hubspot, [change(23, 7, "customer", minutes=30)])
    post(hubspot, [change(22, 7, "lead", minutes=20), change(23, 7, "customer", minutes=30)])
    post(hubspot, [change(21, 7, "subscriber", minutes=0), change(24, 7, "lead", minutes=10)])
    run_engine(hubspot, five_phases)
    assert stage(hubspot, "7") == "purchase"
    assert transitions(hubspot, "7") == [
        (None, "awareness"),
        ("awareness", "consideration"),
        ("consideration", "purchase"),
    ]


def test_a_late_change_does_not_move_the_contact_back(
    hubspot: Receiver, five_phases: Journey
) -> None:
    post(hubspot, [change(31, 8, "customer", minutes=30)])
    run_engine(hubspot, five_phases)
    # Delivered after the newer change was applied. The evangelist change would move a
    # customer in purchase to loyalty, but it happened before they entered purchase.
    late = [change(32, 8, "evangelist", minutes=20), change(33, 8, "lead", minutes=10)]
    post(hubspot, late)
    assert run_engine(hubspot, five_phases) == 2
    assert stage(hubspot, "8") == "purchase"
    post(hubspot, [change(34, 8, "evangelist", minutes=40)])
    run_engine(hubspot, five_phases)
    assert transitions(hubspot, "8") == [(None, "purchase"), ("purchase", "loyalty")]


def test_a_customer_id_too_long_for_the_store_gets_422(make_receiver: MakeReceiver) -> None:
    config = hubspot_config(customer_id="x" * 255 + "-{objectId}")
    receiver = make_receiver(config, env={"HUBSPOT_CLIENT_SECRET": SECRET})
    response = post(receiver, [change(1, 101, "lead")])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == [0, "customer_id"]


def _retimed(headers: dict[str, str], body: bytes) -> tuple[dict[str, str], bytes]:
    later = str(int(headers["X-HubSpot-Request-Timestamp"]) + 1000)
    return {**headers, "X-HubSpot-Request-Timestamp": later}, body


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: (h, b.replace(b'"lead"', b'"customer"')), "does not match"),
        (lambda h, b: _retimed(h, b), "does not match"),
        (lambda h, b: (sign(URL, b, secret="another-secret"), b), "does not match"),
        (lambda h, b: (sign("https://evil.example.com/webhooks/hubspot", b), b), "public_url"),
        (lambda h, b: (sign(f"{PUBLIC}/webhooks/other", b), b), "does not match"),
        (lambda h, b: (sign(URL, b, method="GET"), b), "does not match"),
        (lambda h, b: ({**h, "X-HubSpot-Signature-v3": ""}, b), "missing header"),
        (
            lambda h, b: ({k: v for k, v in h.items() if "Timestamp" not in k}, b),
            "missing header X-HubSpot-Request-Timestamp",
        ),
    ],
    ids=["body", "timestamp", "secret", "host", "path", "method", "no-signature", "no-time"],
)
def test_tampering_is_refused_with_401(hubspot: Receiver, tamper: Any, reason: str) -> None:
    body = json.dumps([change(1, 101, "lead")]).encode()
    headers, sent = tamper(sign(URL, body), body)
    response = hubspot.post("/webhooks/hubspot", sent, headers)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert hubspot.scalar("SELECT count(*) FROM inbound_event") == 0


# Half a minute past the tolerance on either side: the header carries whole seconds
# (truncated) and the request takes time under load, so 301 s can arrive as 299.
@pytest.mark.parametrize("offset", [-330, 330])
def test_a_timestamp_outside_five_minutes_is_refused(hubspot: Receiver, offset: int) -> None:
    body = json.dumps([change(1, 101, "lead")]).encode()
    at_ms = int((time.time() + offset) * 1000)
    response = hubspot.post("/webhooks/hubspot", body, sign(URL, body, at_ms=at_ms))
    assert response.status_code == 401
    assert "tolerance is ±300 s" in response.json()["error"]
    assert ("old" if offset < 0 else "in the future") in response.json()["error"]


def test_the_uri_is_signed_with_hubspots_characters_decoded(hubspot: Receiver) -> None:
    path = "/webhooks/hubspot?app=a%3Ab%2Cc&name=x%20y"
    body = json.dumps([change(1, 101, "lead")]).encode()
    response = hubspot.post(path, body, sign(PUBLIC + path, body))
    assert response.status_code == 200, response.text
    # Signed as sent, without HubSpot's decoding, it does not match.
    headers = sign(PUBLIC + path, body)
    timestamp = headers["X-HubSpot-Request-Timestamp"].encode()
    source = b"POST" + (PUBLIC + path).encode() + body + timestamp
    raw = hmac.new(SECRET.encode(), source, hashlib.sha256).digest()
    headers["X-HubSpot-Signature-v3"] = base64.b64encode(raw).decode()
    assert hubspot.post(path, body, headers).status_code == 401


def test_malformed_bodies_get_400_or_422_naming_index_and_field(hubspot: Receiver) -> None:
    body = b"[{not json"
    response = hubspot.post("/webhooks/hubspot", body, sign(URL, body))
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]

    response = post(hubspot, change(1, 101, "lead"))  # one object, not an array
    assert response.status_code == 422
    assert "JSON array" in response.json()["error"]

    assert post(hubspot, []).status_code == 422

    broken = {k: v for k, v in change(2, 101, "lead").items() if k != "eventId"}
    broken["occurredAt"] = "yesterday"
    response = post(hubspot, [change(1, 101, "lead"), broken])
    assert response.status_code == 422
    fields = {tuple(p["loc"]) for p in response.json()["detail"]}
    assert fields == {(1, "eventId"), (1, "occurredAt")}
    assert "1.eventId" in response.json()["error"]
    assert hubspot.scalar("SELECT count(*) FROM inbound_event") == 0


def test_an_invalid_profile_value_is_kept_for_the_record(hubspot: Receiver) -> None:
    response = post(hubspot, [change(1, 101, "not-an-address", prop="email")])
    assert response.json() == {"received": 1, "new": 1, "duplicates": 0, "ignored": 1}
    assert hubspot.rows("SELECT type, processed_at IS NULL FROM inbound_event") == [
        ("hubspot.contact.property_change", 0)
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"lifecyclestage": {"customer": "Became Customer"}}, "customer: 'Became Customer'"),
        ({"customer_id": "{contactId}"}, "{objectId}, {portalId}"),
        ({"profile": {"email": "mail"}}, "valid: email, phone"),
    ],
)
def test_configuration_mistakes_name_the_key(source: dict[str, Any], message: str) -> None:
    config = hubspot_config(**source)
    with pytest.raises(ReceiverConfigError, match=r"sources\.hubspot") as error:
        parse_receiver_config(config, {"HUBSPOT_CLIENT_SECRET": SECRET})
    assert message in str(error.value)


def test_the_openapi_description_names_the_headers_and_the_mapping(hubspot: Receiver) -> None:
    operation = hubspot.client.get("/openapi.json").json()["paths"]["/webhooks/hubspot"]["post"]
    headers = {p["name"] for p in operation["parameters"]}
    assert headers == {"X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp"}
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["type"] == "array"
    assert "subscriber → crm.lifecycle.subscriber" in operation["description"]
