"""Generic events signed per Standard Webhooks, through the running service.

Signatures are computed here from the scheme's definition, not with the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from receiver_harness import MakeReceiver, Receiver

SECRET_BYTES = b"0123456789abcdef0123456789abcdef"
SECRET = "whsec_" + base64.b64encode(SECRET_BYTES).decode()
NEW_BYTES = b"fedcba9876543210fedcba9876543210"
NEW_SECRET = "whsec_" + base64.b64encode(NEW_BYTES).decode()


def signed(
    body: bytes, msg_id: str, *, key: bytes = SECRET_BYTES, at: float | None = None
) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def event(**changes: Any) -> dict[str, Any]:
    return {
        "type": "order.completed",
        "customer_id": "c-1",
        "occurred_at": "2026-03-01T10:15:00Z",
        "data": {"total": 99.5},
        **changes,
    }


@pytest.fixture
def shop(make_receiver: MakeReceiver) -> Receiver:
    config = {"sources": {"shop": {"kind": "standard_webhooks", "secrets": ["${SHOP_SECRET}"]}}}
    return make_receiver(config, env={"SHOP_SECRET": SECRET})


def test_a_signed_event_is_stored_before_the_answer(shop: Receiver) -> None:
    body = json.dumps(event()).encode()
    response = shop.post("/webhooks/shop", body, signed(body, "msg-1"))
    assert response.status_code == 200, response.text
    assert response.json() == {"received": 1, "new": 1, "duplicates": 0}
    row = shop.rows("SELECT source, external_id, type, processed_at FROM inbound_event")
    assert row == [("shop", "msg-1", "order.completed", None)]
    assert shop.stored == [1]


def test_a_redelivery_is_acknowledged_and_stored_once(shop: Receiver) -> None:
    body = json.dumps(event()).encode()
    for _ in range(3):
        response = shop.post("/webhooks/shop", body, signed(body, "msg-1"))
        assert response.status_code == 200
    assert response.json() == {"received": 1, "new": 0, "duplicates": 1}
    assert shop.scalar("SELECT count(*) FROM inbound_event") == 1


def test_an_array_of_events_with_their_own_ids(shop: Receiver) -> None:
    body = json.dumps([event(external_id=f"o-{i}") for i in range(5)]).encode()
    response = shop.post("/webhooks/shop", body, signed(body, "batch-1"))
    assert response.json() == {"received": 5, "new": 5, "duplicates": 0}


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda h, b: ({**h, "webhook-signature": "v1,AAAA"}, b), "does not match"),
        (lambda h, b: (h, b.replace(b"99.5", b"9.5")), "does not match"),
        (lambda h, b: ({**h, "webhook-id": "msg-2"}, b), "does not match"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b), "missing"),
        (lambda h, b: (signed(b, "msg-1", key=b"x" * 32), b), "does not match"),
    ],
)
def test_tampering_is_refused_with_401(shop: Receiver, tamper: Any, reason: str) -> None:
    body = json.dumps(event()).encode()
    headers, sent = tamper(signed(body, "msg-1"), body)
    response = shop.post("/webhooks/shop", sent, headers)
    assert response.status_code == 401
    assert reason in response.json()["error"]
    assert shop.scalar("SELECT count(*) FROM inbound_event") == 0


# Half a minute past the tolerance on either side: the header carries whole seconds
# (truncated) and the request takes time under load, so 301 s can arrive as 299.
@pytest.mark.parametrize("offset", [-330, 330])
def test_a_timestamp_outside_five_minutes_is_refused(shop: Receiver, offset: int) -> None:
    body = json.dumps(event()).encode()
    response = shop.post("/webhooks/shop", body, signed(body, "m", at=time.time() + offset))
    assert response.status_code == 401
    assert "tolerance is ±300 s" in response.json()["error"]


def test_several_signatures_allow_secret_rotation(make_receiver: MakeReceiver) -> None:
    config = {"sources": {"shop": {"kind": "standard_webhooks", "secrets": [NEW_SECRET, SECRET]}}}
    receiver = make_receiver(config)
    body = json.dumps(event()).encode()
    old = signed(body, "m-old")
    response = receiver.post("/webhooks/shop", body, old)
    assert response.status_code == 200
    both = signed(body, "m-both", key=NEW_BYTES)
    stale = signed(body, "m-both")["webhook-signature"]
    both["webhook-signature"] = f"{stale} {both['webhook-signature']}"
    both["webhook-timestamp"] = signed(body, "m-both")["webhook-timestamp"]
    assert receiver.post("/webhooks/shop", body, both).status_code == 200


def test_malformed_bodies_get_400_or_422_naming_the_field(shop: Receiver) -> None:
    body = b"{not json"
    response = shop.post("/webhooks/shop", body, signed(body, "m1"))
    assert response.status_code == 400
    assert "not JSON" in response.json()["error"]
    body = json.dumps(event(occurred_at="yesterday", customer_id="")).encode()
    response = shop.post("/webhooks/shop", body, signed(body, "m2"))
    assert response.status_code == 422
    fields = {tuple(p["loc"]) for p in response.json()["detail"]}
    assert fields == {("occurred_at",), ("customer_id",)}


def test_unknown_and_unconfigured_sources_get_404(make_receiver: MakeReceiver) -> None:
    config = {
        "sources": {
            "shop": {"kind": "standard_webhooks", "secrets": [SECRET]},
            "crm": {"kind": "standard_webhooks", "secrets": ["${CRM_SECRET}"]},
        }
    }
    receiver = make_receiver(config)
    response = receiver.post("/webhooks/shoop", b"{}")
    assert response.status_code == 404
    assert "did you mean 'shop'" in response.json()["error"]
    response = receiver.post("/webhooks/crm", b"{}")
    assert response.status_code == 404
    assert "set CRM_SECRET" in response.json()["error"]


def test_a_body_over_one_megabyte_gets_413(shop: Receiver) -> None:
    body = json.dumps(event(data={"blob": "x" * (1024 * 1024)})).encode()
    response = shop.post("/webhooks/shop", body, signed(body, "big"))
    assert response.status_code == 413
    assert shop.scalar("SELECT count(*) FROM inbound_event") == 0


def test_the_openapi_description_names_each_source(shop: Receiver) -> None:
    spec = shop.client.get("/openapi.json").json()
    operation = spec["paths"]["/webhooks/shop"]["post"]
    headers = {p["name"] for p in operation["parameters"]}
    assert headers == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert "application/json" in operation["requestBody"]["content"]


# --- the tracking plan ---------------------------------------------------------------------


@pytest.fixture
def planned_shop(make_receiver: MakeReceiver) -> Receiver:
    from journeys.config import definitions_dir
    from journeys.tracking import load_plan

    config = {"sources": {"shop": {"kind": "standard_webhooks", "secrets": ["${SHOP_SECRET}"]}}}
    return make_receiver(config, env={"SHOP_SECRET": SECRET}, plan=load_plan(definitions_dir()))


def test_a_declared_event_with_a_wrongly_typed_field_is_refused_and_nothing_stored(
    planned_shop: Receiver,
) -> None:
    good, bad = event(external_id="o-1"), event(external_id="o-2", data={"total": "99,50 €"})
    body = json.dumps([good, bad]).encode()
    response = planned_shop.post("/webhooks/shop", body, signed(body, "batch-1"))
    assert response.status_code == 422, response.text
    assert "events[1].data.total" in response.json()["error"]
    assert response.json()["detail"] == [
        {"event": 1, "field": "data.total", "msg": "expected number, got string"}
    ]
    assert planned_shop.scalar("SELECT count(*) FROM inbound_event") == 0


def test_an_undeclared_event_type_is_stored_and_logged(
    planned_shop: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(event(type="cart.abandoned", data={"total": "any"})).encode()
    with caplog.at_level("WARNING", logger="journeyflow.webhooks"):
        response = planned_shop.post("/webhooks/shop", body, signed(body, "msg-9"))
    assert response.status_code == 200, response.text
    assert planned_shop.scalar("SELECT count(*) FROM inbound_event") == 1
    assert "cart.abandoned" in caplog.text and "not in the tracking plan" in caplog.text


def test_a_plan_that_refuses_undeclared_types_answers_422(make_receiver: MakeReceiver) -> None:
    from journeys.tracking import parse_plan

    plan = parse_plan("undeclared_events: refuse\nevents:\n  order.completed: {}\n")
    config = {"sources": {"shop": {"kind": "standard_webhooks", "secrets": ["${SHOP_SECRET}"]}}}
    shop = make_receiver(config, env={"SHOP_SECRET": SECRET}, plan=plan)
    body = json.dumps(event(type="cart.abandoned")).encode()
    response = shop.post("/webhooks/shop", body, signed(body, "msg-1"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "type"
    assert shop.scalar("SELECT count(*) FROM inbound_event") == 0
