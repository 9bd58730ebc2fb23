"""Signed garbage of every kind to every source, through the real service: never a 5xx
(senders retry every 5xx, so one bad message would become a retry storm), the service
keeps answering, and what it accepted is stored once (the same delivery again is a
duplicate). On SQLite and, where configured, on PostgreSQL, whose text types refuse
more than SQLite's do.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from receiver_harness import ON_BOTH_STORES, MakeReceiver, Receiver
from signed_senders import JSON_SOURCES, all_sources, post_form, post_json, stored_events

from channels.inbound.source_sendgrid import EVENTS as SENDGRID_EVENTS


@pytest.fixture
def receiver(make_receiver: MakeReceiver) -> Receiver:
    return all_sources(make_receiver)


# --- anything at all ------------------------------------------------------------------------

# Strings no store keeps (NUL, lone surrogates: json.dumps writes them as \u escapes) and
# others that are merely unusual; plain st.text() almost never draws a surrogate.
_text = st.text(max_size=40) | st.sampled_from(
    ["", "a\x00b", "\ud800", "x\udfffy", "\ufeff", "Zoë 😀", "a" * 300, "1" * 40]
)
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**80), max_value=10**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | _text
)
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=20,
)
_DROP = object()


def _spoiled(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    """Valid events, and valid events with one field dropped or replaced by anything."""
    change = st.none() | st.tuples(st.text(max_size=20), _json | st.just(_DROP))

    def apply(event: dict[str, Any], edit: tuple[str, Any] | None) -> dict[str, Any]:
        if edit is None:
            return event
        name, value = edit
        name = name if name not in ("", "?") else sorted(event)[len(name) % len(event)]
        return {k: v for k, v in {**event, name: value}.items() if v is not _DROP}

    return st.builds(apply, valid, change)


_ms = st.integers(min_value=0, max_value=253402300799999)
_standard_event = st.fixed_dictionaries(
    {
        "type": st.sampled_from(["order.completed", "order.delivered", "customer.signed_up"]),
        "customer_id": st.sampled_from(["c-1", "c-2", "c-3"]) | _text,
        "occurred_at": st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat())
        | st.sampled_from(["2026-03-01T10:15:00Z", "9999-12-31T23:59:59-23:59"]),
    },
    optional={
        "external_id": st.sampled_from(["o-1", "o-2"]) | _text,
        "data": st.dictionaries(_text, _json, max_size=4),
        "customer": st.fixed_dictionaries(
            {},
            optional={
                "email": st.sampled_from(["anna@example.com", "b@x.de"]) | _text,
                "phone": st.sampled_from(["+4915112345678", "030 1234567"]) | _text,
                "first_name": _text,
                "locale": st.sampled_from(["de", "en", "de-AT"]) | _text,
                "country": st.sampled_from(["DE", "at"]) | _text,
                "attributes": st.dictionaries(_text, _json, max_size=3),
            },
        ),
    },
)
_hubspot_event = st.fixed_dictionaries(
    {
        "eventId": st.integers(min_value=0, max_value=10**12),
        "subscriptionId": st.integers(min_value=0, max_value=10**6),
        "portalId": st.integers(min_value=0, max_value=10**6),
        "occurredAt": _ms,
        "subscriptionType": st.sampled_from(
            ["contact.creation", "contact.propertyChange", "contact.deletion", "deal.creation"]
        ),
        "attemptNumber": st.integers(min_value=0, max_value=5),
        "objectId": st.integers(min_value=0, max_value=10**12),
    },
    optional={
        "propertyName": st.sampled_from(["lifecyclestage", "email", "firstname", "phone"]),
        "propertyValue": st.sampled_from(["lead", "customer", "a@b.de", "+4915112345678"])
        | _scalars,
        "changeSource": st.sampled_from(["CRM", "IMPORT"]) | _text,
    },
)
_sendgrid_event = st.fixed_dictionaries(
    {
        "event": st.sampled_from([*sorted(SENDGRID_EVENTS), "something_new"]),
        "email": st.sampled_from(["anna@example.com", "b@x.de"]) | _text,
        "timestamp": st.integers(min_value=0, max_value=253402300799),
        "sg_event_id": st.text(st.characters(codec="ascii"), min_size=1, max_size=30),
    },
    optional={
        "sg_message_id": _text,
        "reason": _text,
        "type": st.sampled_from(["bounce", "blocked"]) | _text,
        "url": _text,
        "asm_group_id": _scalars,
        "idempotency_key": _scalars,
        "message_id": _scalars,
        "useragent": _text,
    },
)


def _batch(event: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    return st.lists(_spoiled(event), min_size=1, max_size=3).map(lambda v: json.dumps(v).encode())


_garbage = (
    _json.map(lambda v: json.dumps(v).encode())
    | st.dictionaries(_text, _json, max_size=6).map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=200)
)
_BODIES: dict[str, st.SearchStrategy[bytes]] = {
    "shop": _spoiled(_standard_event).map(lambda v: json.dumps(v).encode())
    | _batch(_standard_event),
    "hubspot": _batch(_hubspot_event),
    "sendgrid": _batch(_sendgrid_event),
}
_BODIES["crm"] = _BODIES["shop"]
_deliveries = st.sampled_from(sorted(JSON_SOURCES)).flatmap(
    lambda source: st.tuples(st.just(source), _BODIES[source] | _garbage)
)
_form_text = st.text(st.characters(codec="utf-8"), max_size=60) | st.sampled_from(
    ["SM" + "f" * 32, "delivered", "STOP", "HELP", "+4915112345678", "21610", "x" * 400, "\x00"]
)
_forms = st.dictionaries(
    st.sampled_from(
        ["MessageSid", "From", "To", "Body", "MessageStatus", "ErrorCode", "OptOutType", "Other"]
    ),
    _form_text,
    max_size=7,
)


def _answers(receiver: Receiver, response: httpx.Response) -> None:
    """Below 500, with a body a sender can log, and the service still answering."""
    assert response.status_code < 500, response.text
    assert response.headers["content-type"].startswith(("application/json", "text/xml"))
    assert receiver.client.get("/healthz").status_code == 200


@ON_BOTH_STORES
@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivery=_deliveries)
def test_any_signed_json_body_gets_an_answer_below_500_and_is_stored_once(
    receiver: Receiver, delivery: tuple[str, bytes]
) -> None:
    source, body = delivery
    before = stored_events(receiver)
    webhook_id = f"msg-{uuid.uuid4().hex}"
    first = post_json(receiver, source, body, webhook_id)
    _answers(receiver, first)
    event(f"{source}: {first.status_code}")  # --hypothesis-show-statistics: what was reached
    after = stored_events(receiver)
    if first.status_code != 200:
        assert after == before  # refused: nothing of it stored
        return
    assert after - before == first.json()["new"]
    # The same delivery again (same body and webhook-id; a fresh signature) is
    # acknowledged and stores nothing new.
    again = post_json(receiver, source, body, webhook_id)
    _answers(receiver, again)
    assert again.status_code == 200, again.text
    assert again.json()["new"] == 0
    assert stored_events(receiver) == after


@ON_BOTH_STORES
@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(params=_forms)
def test_any_signed_twilio_form_gets_an_answer_below_500_and_is_stored_once(
    receiver: Receiver, params: dict[str, str]
) -> None:
    before = stored_events(receiver)
    first = post_form(receiver, params)
    _answers(receiver, first)
    event(f"twilio: {first.status_code}")
    after = stored_events(receiver)
    if first.status_code != 200:
        assert after == before
        return
    again = post_form(receiver, params)
    _answers(receiver, again)
    assert again.status_code == 200, again.text
    assert stored_events(receiver) == after  # a redelivery (same MessageSid) is applied once
