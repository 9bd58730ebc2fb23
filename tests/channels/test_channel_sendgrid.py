"""SendGrid channel, through the real SDK, against a local server checked by the spec."""

from __future__ import annotations

import base64
import time

import pytest
from channel_fakes import (
    SENDGRID_KEY,
    Reply,
    SendGridFake,
    load_schema,
    make_email,
    refused_port,
    sendgrid_error,
    sendgrid_rate_limited,
    unresponsive_port,
)
from jsonschema import Draft202012Validator
from python_http_client.exceptions import BadRequestsError
from sendgrid import SendGridAPIClient

from channels import ChannelSettings, MessageError, RetryableSendError, SendGridChannel
from channels.message import Attachment


def channel(url: str, **kwargs: object) -> SendGridChannel:
    options: dict[str, object] = {"base_url": url, "timeout": 2.0}
    options.update(kwargs)
    return SendGridChannel(SENDGRID_KEY, **options)  # type: ignore[arg-type]


def test_sends_and_returns_the_x_message_id(sendgrid_fake: SendGridFake) -> None:
    message = make_email()
    result = channel(sendgrid_fake.url).send(message)

    assert result.status == "sent", result.reason
    assert result.http_status == 202
    [request] = sendgrid_fake.requests
    assert result.provider_message_id and len(result.provider_message_id) >= 20
    assert request.headers["authorization"] == f"Bearer {SENDGRID_KEY}"
    assert sendgrid_fake.violations == []


def test_request_carries_every_field(sendgrid_fake: SendGridFake) -> None:
    message = make_email()
    channel(sendgrid_fake.url, sandbox=True).send(message)
    body = sendgrid_fake.requests[0].json

    [personalization] = body["personalizations"]
    assert personalization["to"] == [{"email": "max.mustermann@example.com"}]
    assert personalization["custom_args"] == {
        "message_id": message.message_id,
        "idempotency_key": message.idempotency_key,
        "journey": "post_purchase",
        "stage": "evaluation",
        "action": "review_request",
        "customer_id": "cust-42",
        "variant": "B",
    }
    assert body["from"] == {"email": "shop@shop.example", "name": "Beispiel Shop"}
    assert body["reply_to"] == {"email": "service@shop.example"}
    assert body["subject"] == "Wie gefällt Ihnen Ihr Laptop?"
    # SendGrid requires text/plain before text/html.
    assert [c["type"] for c in body["content"]] == ["text/plain", "text/html"]
    assert body["headers"]["List-Unsubscribe"].startswith("<https://shop.example/u/tok123>")
    assert "<mailto:" in body["headers"]["List-Unsubscribe"]
    assert body["headers"]["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert body["categories"] == ["post_purchase", "review_request"]
    assert body["mail_settings"] == {"sandbox_mode": {"enable": True}}


def test_sandbox_off_by_default_and_sandbox_200_counts_as_sent(
    sendgrid_fake: SendGridFake,
) -> None:
    channel(sendgrid_fake.url).send(make_email())
    assert sendgrid_fake.requests[0].json["mail_settings"]["sandbox_mode"]["enable"] is False

    sendgrid_fake.replies.append(Reply(200))  # what sandbox mode answers
    result = channel(sendgrid_fake.url, sandbox=True).send(make_email())
    assert result.status == "sent"
    assert result.provider_message_id is None


def test_fake_rejects_a_request_the_spec_forbids(sendgrid_fake: SendGridFake) -> None:
    """The validation itself works: a body without content is refused with a 400."""
    sendgrid_fake.expect_violations = True
    client = SendGridAPIClient(api_key=SENDGRID_KEY, host=sendgrid_fake.url)
    with pytest.raises(BadRequestsError) as raised:
        client.send(
            {
                "personalizations": [{"to": [{"email": "a@example.com"}]}],
                "from": {"email": "shop@shop.example"},
                "subject": "no content",
            }
        )
    assert raised.value.status_code == 400
    assert any("'content' is a required property" in v for v in sendgrid_fake.violations)


def test_spec_types_message_level_custom_args_as_string(sendgrid_fake: SendGridFake) -> None:
    """Why custom_args goes on the personalization: the spec refuses it elsewhere."""
    sendgrid_fake.expect_violations = True
    body = channel(sendgrid_fake.url).build_body(make_email())
    body["custom_args"] = body["personalizations"][0].pop("custom_args")
    client = SendGridAPIClient(api_key=SENDGRID_KEY, host=sendgrid_fake.url)
    with pytest.raises(BadRequestsError):
        client.send(body)
    assert any(v.startswith("custom_args:") for v in sendgrid_fake.violations)


def test_fake_error_bodies_match_the_spec() -> None:
    validator = Draft202012Validator(load_schema("sendgrid_error.schema.json"))
    for reply in (sendgrid_error(400, "bad", "from.email"), sendgrid_rate_limited(5)):
        validator.validate(reply.body)


@pytest.mark.parametrize("status", [400, 403, 413])
def test_permanent_refusal_is_a_failed_result(sendgrid_fake: SendGridFake, status: int) -> None:
    sendgrid_fake.replies.append(
        sendgrid_error(status, "The from address does not match a verified Sender Identity", "from")
    )
    result = channel(sendgrid_fake.url).send(make_email())
    assert result.status == "failed"
    assert result.http_status == status
    assert "from: The from address does not match a verified Sender Identity" in (
        result.reason or ""
    )


def test_wrong_api_key_is_a_failed_result(sendgrid_fake: SendGridFake) -> None:
    result = SendGridChannel("SG.wrong", base_url=sendgrid_fake.url).send(make_email())
    assert result.status == "failed"
    assert result.http_status == 401
    assert "authorization grant is invalid" in (result.reason or "")


def test_429_is_retryable_with_the_reset_time(sendgrid_fake: SendGridFake) -> None:
    sendgrid_fake.replies.append(sendgrid_rate_limited(reset_in=30))
    with pytest.raises(RetryableSendError) as raised:
        channel(sendgrid_fake.url).send(make_email())
    assert raised.value.http_status == 429
    assert raised.value.retry_after is not None and 25 <= raised.value.retry_after <= 31


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_are_retryable(sendgrid_fake: SendGridFake, status: int) -> None:
    sendgrid_fake.replies.append(Reply(status, {"errors": [{"message": "internal error"}]}))
    with pytest.raises(RetryableSendError) as raised:
        channel(sendgrid_fake.url).send(make_email())
    assert raised.value.http_status == status


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(RetryableSendError, match="request not sent"):
        channel(f"http://127.0.0.1:{refused_port()}").send(make_email())


def test_connect_timeout_is_retryable() -> None:
    with unresponsive_port() as port, pytest.raises(RetryableSendError, match="not sent"):
        channel(f"http://127.0.0.1:{port}", timeout=0.3).send(make_email())


def test_read_timeout_after_the_request_arrived_is_unknown(sendgrid_fake: SendGridFake) -> None:
    sendgrid_fake.replies.append(Reply(202, delay=3.0))
    started = time.monotonic()
    result = channel(sendgrid_fake.url, timeout=0.3).send(make_email())
    assert result.status == "unknown"
    assert "not retried" in (result.reason or "")
    assert len(sendgrid_fake.requests) == 1  # it did arrive
    assert time.monotonic() - started < 2.5


def test_connection_reset_after_the_request_arrived_is_unknown(
    sendgrid_fake: SendGridFake,
) -> None:
    sendgrid_fake.replies.append(Reply(drop=True))
    result = channel(sendgrid_fake.url).send(make_email())
    assert result.status == "unknown"
    assert len(sendgrid_fake.requests) == 1


def test_missing_sender_is_a_message_error(sendgrid_fake: SendGridFake) -> None:
    with pytest.raises(MessageError, match="JOURNEYFLOW_EMAIL_FROM"):
        channel(sendgrid_fake.url).send(make_email(from_email=None))
    assert sendgrid_fake.requests == []


def test_settings_defaults_fill_the_sender(sendgrid_fake: SendGridFake) -> None:
    settings = ChannelSettings.from_env(
        {
            "SENDGRID_API_KEY": SENDGRID_KEY,
            "JOURNEYFLOW_SENDGRID_BASE_URL": sendgrid_fake.url,
            "JOURNEYFLOW_SENDGRID_SANDBOX": "yes",
            "JOURNEYFLOW_EMAIL_FROM": "news@shop.example",
            "JOURNEYFLOW_EMAIL_FROM_NAME": "Shop News",
        }
    )
    result = SendGridChannel.from_settings(settings).send(
        make_email(from_email=None, from_name=None)
    )
    assert result.status == "sent"
    body = sendgrid_fake.requests[0].json
    assert body["from"] == {"email": "news@shop.example", "name": "Shop News"}
    assert body["mail_settings"]["sandbox_mode"]["enable"] is True


def test_a_calendar_attachment_is_sent_as_the_spec_wants(sendgrid_fake: SendGridFake) -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"
    invite = Attachment("invite.ics", "text/calendar; method=REQUEST; charset=UTF-8", ics)
    result = channel(sendgrid_fake.url).send(make_email(attachments=[invite]))

    assert result.status == "sent", result.reason
    assert sendgrid_fake.violations == []
    [attachment] = sendgrid_fake.requests[0].json["attachments"]
    assert attachment == {
        "content": base64.b64encode(ics).decode("ascii"),
        "type": "text/calendar",
        "filename": "invite.ics",
        "disposition": "attachment",
    }
