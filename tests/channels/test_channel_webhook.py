"""Outgoing webhooks: Standard Webhooks signatures and the send classification."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets

import pytest
from channel_fakes import FakeServer, Reply, refused_port, unresponsive_port

from channels import (
    ChannelConfigError,
    OutboundMessage,
    RetryableSendError,
    WebhookChannel,
    sign,
)
from channels.webhook_out import decode_secret

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()
CLOCK = 1_773_480_600.25


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """An independent Standard Webhooks verifier, written from the specification."""
    key = base64.b64decode(secret.split("_", 1)[1])
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.{body.decode()}"
    expected = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    for candidate in headers["webhook-signature"].split(" "):
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(base64.b64decode(value), expected):
            return True
    return False


def hook(url: str, **overrides: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "idempotency_key": f"enr-5:support:crm-{secrets.token_hex(3)}",
        "channel": "webhook",
        "to": f"{url}/hooks/journeyflow",
        "subject": "Follow-up",
        "text": "Kunde wartet auf Rückruf",
        "metadata": {"journey": "omnichannel_retail", "stage": "support", "action": "crm.task"},
    }
    fields.update(overrides)
    return OutboundMessage(**fields)  # type: ignore[arg-type]


def channel(**kwargs: object) -> WebhookChannel:
    options: dict[str, object] = {"clock": lambda: CLOCK, "read_timeout": 2.0}
    options.update(kwargs)
    return WebhookChannel(SECRET, **options)  # type: ignore[arg-type]


def test_signature_verifies_independently(receiver: FakeServer) -> None:
    message = hook(receiver.url)
    result = channel().send(message)
    assert result.status == "sent"
    assert result.provider_message_id == message.idempotency_key

    [request] = receiver.requests
    assert request.path == "/hooks/journeyflow"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["webhook-id"] == message.idempotency_key
    assert request.headers["webhook-timestamp"] == str(int(CLOCK))
    assert verify(SECRET, request.headers, request.body)
    payload = request.json
    assert payload["type"] == "crm.task"
    assert payload["data"]["custom_args"]["message_id"] == message.message_id
    assert payload["data"]["metadata"]["stage"] == "support"


def test_verifier_rejects_a_tampered_body(receiver: FakeServer) -> None:
    channel().send(hook(receiver.url))
    [request] = receiver.requests
    tampered = request.body.replace(b"Follow-up", b"Follow-uP")
    assert not verify(SECRET, request.headers, tampered)
    other = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify(other, request.headers, request.body)


def test_known_answer_from_the_standard_webhooks_examples() -> None:
    key = decode_secret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize("secret", ["", "whsec_", "whsec_not base64!", "whsec_c2hvcnQ="])
def test_bad_secret_names_the_setting(secret: str) -> None:
    with pytest.raises(ChannelConfigError, match="JOURNEYFLOW_WEBHOOK_SECRET"):
        WebhookChannel(secret)


@pytest.mark.parametrize("status", [400, 404, 410, 301])
def test_client_errors_and_redirects_are_failed_results(receiver: FakeServer, status: int) -> None:
    receiver.replies.append(Reply(status, {"error": "gone"}, {"Location": "https://x.example"}))
    result = channel().send(hook(receiver.url))
    assert result.status == "failed"
    assert result.http_status == status


def test_429_is_retryable_with_retry_after(receiver: FakeServer) -> None:
    receiver.replies.append(Reply(429, headers={"Retry-After": "12"}))
    with pytest.raises(RetryableSendError) as raised:
        channel().send(hook(receiver.url))
    assert raised.value.retry_after == 12.0


def test_503_is_retryable(receiver: FakeServer) -> None:
    receiver.replies.append(Reply(503))
    with pytest.raises(RetryableSendError):
        channel().send(hook(receiver.url))


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(RetryableSendError, match="ConnectError"):
        channel().send(hook(f"http://127.0.0.1:{refused_port()}"))


def test_connect_timeout_is_retryable() -> None:
    with unresponsive_port() as port, pytest.raises(RetryableSendError, match="ConnectTimeout"):
        channel(connect_timeout=0.3).send(hook(f"http://127.0.0.1:{port}"))


def test_read_timeout_after_the_request_arrived_is_unknown(receiver: FakeServer) -> None:
    receiver.replies.append(Reply(200, delay=3.0))
    result = channel(read_timeout=0.3).send(hook(receiver.url))
    assert result.status == "unknown"
    assert "ReadTimeout" in (result.reason or "")
    assert len(receiver.requests) == 1


def test_body_is_compact_json(receiver: FakeServer) -> None:
    channel().send(hook(receiver.url))
    body = receiver.requests[0].body
    assert json.loads(body)["data"]["text"] == "Kunde wartet auf Rückruf"
    assert b": " not in body
