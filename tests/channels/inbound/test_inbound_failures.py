"""What a failure inside a source becomes (channels/inbound/failures.py): never a 500.

A store that is down or out of connections is a 503 with Retry-After (the same request
later succeeds); a value the store refuses is a 422; anything unexpected is a 400 naming
the kind of error, logged with where it happened but without its message, which may
quote personal data. The failures are injected where the store would raise them.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from receiver_harness import MakeReceiver, Receiver
from signed_senders import all_sources, post_json, stored_events
from sqlalchemy.exc import DataError, InternalError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

import channels.inbound.source_standard as source_standard

EVENT = {
    "type": "order.completed",
    "customer_id": "c-1",
    "occurred_at": "2026-03-01T10:15:00Z",
    "customer": {"email": "anna@example.com"},
}
PERSONAL = "anna@example.com"


@pytest.fixture
def receiver(make_receiver: MakeReceiver) -> Receiver:
    return all_sources(make_receiver)


def _store_fails(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    def store_events(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(source_standard, "store_events", store_events)


def _post(receiver: Receiver) -> Any:
    return post_json(receiver, "shop", json.dumps(EVENT).encode())


@pytest.mark.parametrize(
    "error",
    [
        OperationalError("INSERT …", {"email": PERSONAL}, Exception("connection refused")),
        InternalError("INSERT …", {}, Exception("the server is shutting down")),
        PoolTimeout("QueuePool limit of size 5 overflow 10 reached"),
    ],
    ids=["connection", "server", "pool"],
)
def test_a_store_outage_is_a_503_with_retry_after(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    _store_fails(monkeypatch, error)
    response = _post(receiver)
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert response.json() == {"error": "the store is unavailable; try again later"}
    monkeypatch.undo()
    # The sender's retry, once the store is back, is taken.
    assert _post(receiver).status_code == 200
    assert stored_events(receiver) == 1


def test_a_value_the_store_refuses_is_a_422_with_the_stores_reason(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    refused = Exception("character with byte sequence 0xe2 0x82 0xac has no equivalent")
    _store_fails(monkeypatch, DataError("INSERT …", {"email": PERSONAL}, refused))
    response = _post(receiver)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == (
        "the store cannot keep a value of this request: "
        "character with byte sequence 0xe2 0x82 0xac has no equivalent"
    )
    assert PERSONAL not in response.text  # the statement's parameters are not echoed


def test_an_unexpected_failure_is_a_400_logged_with_its_place_not_its_message(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="journeyflow.webhooks")
    _store_fails(monkeypatch, RuntimeError(f"no customer {PERSONAL}"))
    response = _post(receiver)
    assert response.status_code == 400, response.text
    assert "an unexpected RuntimeError" in response.json()["error"]
    assert stored_events(receiver) == 0
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1, errors
    assert "shop: a request failed with an unexpected RuntimeError" in errors[0]
    assert "test_inbound_failures.py" in errors[0]  # where it was raised
    assert PERSONAL not in caplog.text
    # The service goes on answering.
    assert receiver.client.get("/healthz").status_code == 200
