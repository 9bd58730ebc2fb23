"""Hostile bodies, correctly signed: never a 5xx (senders retry every 5xx, so one bad
message would become a retry storm), always a 4xx naming the problem, and nothing of a
refused request stored. Each case found is named here; test_inbound_hostile_any.py
posts signed garbage of every kind.
"""

from __future__ import annotations

import json
import math
import time
import tracemalloc

import pytest
from receiver_harness import ON_BOTH_STORES, MakeReceiver, Receiver
from signed_senders import JSON_SOURCES, all_sources, post_form, post_json, stored_events


@pytest.fixture
def receiver(make_receiver: MakeReceiver) -> Receiver:
    return all_sources(make_receiver)


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
    assert stored_events(receiver) == 0


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
    assert stored_events(receiver) == 0


def _valid(source: str, text: str) -> bytes:
    """An event `source` accepts, carrying `text` in a field the store keeps."""
    if source in ("shop", "crm"):
        event: dict[str, object] = {
            "type": "order.completed",
            "customer_id": "c-1",
            "occurred_at": "2026-03-01T10:15:00Z",
            "data": {"note": text},
        }
        return json.dumps(event).encode()
    if source == "hubspot":
        event = {
            "eventId": 1,
            "subscriptionId": 2,
            "portalId": 3,
            "occurredAt": int(time.time() * 1000),
            "subscriptionType": "contact.propertyChange",
            "attemptNumber": 0,
            "objectId": 4,
            "propertyName": "firstname",
            "propertyValue": text,
            "changeSource": "CRM",
        }
        return json.dumps([event]).encode()
    event = {
        "event": "open",
        "email": "anna@example.com",
        "timestamp": int(time.time()),
        "sg_event_id": "sg-1",
        "useragent": text,
    }
    return json.dumps([event]).encode()


@ON_BOTH_STORES
@pytest.mark.parametrize("source", sorted(JSON_SOURCES))
@pytest.mark.parametrize(
    ("text", "reason"),
    [("a\x00b", "NUL character (\\u0000)"), ("a\ud800b", "lone UTF-16 surrogate (\\ud800)")],
    ids=["nul", "lone-surrogate"],
)
def test_a_string_no_store_can_keep_is_refused_with_400_naming_where(
    receiver: Receiver, source: str, text: str, reason: str
) -> None:
    # PostgreSQL keeps no NUL in text or JSONB, and a lone surrogate is not UTF-8 for any
    # store: refused alike on both, before the store, with the place named.
    assert post_json(receiver, source, _valid(source, "ok")).status_code == 200
    before = stored_events(receiver)
    response = post_json(receiver, source, _valid(source, text))
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]
    where = {"shop": "data.note", "crm": "data.note", "hubspot": "0.propertyValue"}
    assert where.get(source, "0.useragent") in response.json()["error"]
    assert stored_events(receiver) == before


@pytest.mark.parametrize("at", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00"])
def test_a_time_beyond_the_years_a_store_holds_is_refused_with_422(
    receiver: Receiver, at: str
) -> None:
    body = {"type": "order.completed", "customer_id": "c-1", "occurred_at": at}
    response = post_json(receiver, "shop", json.dumps(body).encode())
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid event fields: occurred_at"
    assert "outside the years 1 to 9999" in response.json()["detail"][0]["msg"]


@ON_BOTH_STORES
@pytest.mark.parametrize("field", ["Body", "MessageSid", "From", "To", "NumMedia"])
def test_a_nul_in_a_twilio_field_is_refused_with_400_naming_it(
    receiver: Receiver, field: str
) -> None:
    params = {"MessageSid": "SM-nul", "From": "+4915112345678", "To": "+4930123456"}
    params |= {"Body": "hello", "NumMedia": "0"}
    params[field] = params[field][:2] + "\x00" + params[field][2:]
    response = post_form(receiver, params)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == f"the form field {field} holds a NUL character (%00)"
    assert stored_events(receiver) == 0


def test_the_checks_take_numbers_as_json_does() -> None:
    # The bounds refuse what cannot be stored, not ordinary numbers.
    from channels.inbound.json_body import load_json

    assert load_json(b'{"a": 12345678901234567890, "b": 1.5e300, "c": [[[]]]}') == {
        "a": 12345678901234567890,
        "b": 1.5e300,
        "c": [[[]]],
    }
    assert math.isfinite(load_json(b"-1e308"))


def test_the_checks_take_memory_by_depth_not_by_width() -> None:
    # A long key over a wide array, with a NUL to find: each element's place must not
    # copy its parent's path (that would be 100,000 copies of a 2,000-character key).
    from channels.inbound.errors import BadRequest
    from channels.inbound.json_body import load_json

    key = "k" * 2000
    body = f'{{"z": "\\u0000", "{key}": [{",".join(["0"] * 100_000)}]}}'.encode()
    tracemalloc.start()
    try:
        with pytest.raises(BadRequest, match=r"z holds a NUL character"):
            load_json(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 * len(body), f"{peak / 1e6:.0f} MB for a body of {len(body) / 1e6:.1f} MB"
