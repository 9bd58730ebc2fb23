"""Twilio channel, through the real SDK, against a local server checked by the spec."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from channel_fakes import (
    TWILIO_SID,
    TWILIO_TOKEN,
    Reply,
    TwilioFake,
    load_schema,
    make_sms,
    message_resource,
    refused_port,
    twilio_error,
    unresponsive_port,
)
from jsonschema import Draft202012Validator
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from channels import ChannelSettings, MessageError, RetryableSendError, TwilioChannel
from channels.sms_twilio import _RoutedHttpClient, with_query

FROM = "+4915790000000"
SERVICE = "MG" + "fedcba9876543210" * 2


def channel(url: str, **kwargs: object) -> TwilioChannel:
    options: dict[str, object] = {
        "base_url": url,
        "from_number": FROM,
        "status_callback_url": "https://hooks.shop.example/twilio/status?src=jf",
        "connect_timeout": 0.5,
        "read_timeout": 2.0,
    }
    options.update(kwargs)
    return TwilioChannel(TWILIO_SID, TWILIO_TOKEN, **options)  # type: ignore[arg-type]


def test_sends_normalised_number_and_returns_the_sid(twilio_fake: TwilioFake) -> None:
    message = make_sms(to="0151 23456789")  # metadata country DE
    result = channel(twilio_fake.url).send(message)

    assert result.status == "sent", result.reason
    assert result.provider_message_id and result.provider_message_id.startswith("SM")
    [request] = twilio_fake.requests
    assert request.path == f"/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    form = request.form
    assert form["To"] == ["+4915123456789"]
    assert form["From"] == [FROM]
    assert form["Body"] == [message.text]
    assert twilio_fake.violations == []


def test_status_callback_carries_the_idempotency_key(twilio_fake: TwilioFake) -> None:
    message = make_sms()
    channel(twilio_fake.url).send(message)
    callback = twilio_fake.requests[0].form["StatusCallback"][0]
    parts = urlsplit(callback)
    query = parse_qs(parts.query)
    assert parts.netloc == "hooks.shop.example"
    assert query["idempotency_key"] == [message.idempotency_key]
    assert query["message_id"] == [message.message_id]
    assert query["src"] == ["jf"]  # the configured URL's own query survives


def test_message_callback_overrides_the_configured_one(twilio_fake: TwilioFake) -> None:
    message = make_sms(status_callback="https://other.example/cb")
    channel(twilio_fake.url).send(message)
    callback = twilio_fake.requests[0].form["StatusCallback"][0]
    assert callback.startswith("https://other.example/cb?idempotency_key=")


def test_messaging_service_instead_of_a_number(twilio_fake: TwilioFake) -> None:
    result = channel(twilio_fake.url, from_number=None, messaging_service_sid=SERVICE).send(
        make_sms()
    )
    assert result.status == "sent"
    form = twilio_fake.requests[0].form
    assert form["MessagingServiceSid"] == [SERVICE]
    assert "From" not in form


def test_default_country_from_settings(twilio_fake: TwilioFake) -> None:
    settings = ChannelSettings.from_env(
        {
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_FROM_NUMBER": FROM,
            "JOURNEYFLOW_TWILIO_BASE_URL": twilio_fake.url,
            "JOURNEYFLOW_SMS_DEFAULT_COUNTRY": "AT",
        }
    )
    message = make_sms(to="0664 1234567", metadata={"journey": "j"})
    result = TwilioChannel.from_settings(settings).send(message)
    assert result.status == "sent", result.reason
    assert twilio_fake.requests[0].form["To"] == ["+436641234567"]
    assert "StatusCallback" not in twilio_fake.requests[0].form


@pytest.mark.parametrize("raw", ["12345", "0151 234", "not a number"])
def test_invalid_number_fails_without_a_request(twilio_fake: TwilioFake, raw: str) -> None:
    result = channel(twilio_fake.url).send(make_sms(to=raw))
    assert result.status == "failed"
    assert result.error_code == "invalid_phone_number"
    assert raw in (result.reason or "")
    assert twilio_fake.requests == []


def test_fake_answers_match_the_message_schema(twilio_fake: TwilioFake) -> None:
    validator = Draft202012Validator(load_schema("twilio_message.schema.json"))
    channel(twilio_fake.url).send(make_sms())
    channel(twilio_fake.url, from_number=None, messaging_service_sid=SERVICE).send(make_sms())
    for request in twilio_fake.requests:
        validator.validate(message_resource(request.form))


def test_fake_rejects_a_request_the_spec_forbids(twilio_fake: TwilioFake) -> None:
    """The validation itself works: a malformed MessagingServiceSid is refused."""
    twilio_fake.expect_violations = True
    client = Client(TWILIO_SID, TWILIO_TOKEN, http_client=_RoutedHttpClient(twilio_fake.url, 1, 2))
    with pytest.raises(TwilioRestException) as raised:
        client.messages.create(to="+4915123456789", messaging_service_sid="MG123", body="x")
    assert raised.value.status == 400
    assert any("MessagingServiceSid" in v for v in twilio_fake.violations)


def test_fake_rejects_unknown_and_missing_parameters(twilio_fake: TwilioFake) -> None:
    twilio_fake.expect_violations = True
    response = requests.post(
        f"{twilio_fake.url}/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
        data={"To": "+4915123456789", "From": FROM, "Bdy": "typo"},
        auth=(TWILIO_SID, TWILIO_TOKEN),
        timeout=2,
    )
    assert response.status_code == 400
    assert any("'Bdy' was unexpected" in v for v in twilio_fake.violations)
    assert any("Body, MediaUrl, ContentSid" in v for v in twilio_fake.violations)


@pytest.mark.parametrize(
    ("code", "message", "consent"),
    [
        # The number itself is unusable: suppressed for SMS, not a consent change.
        (21211, "The 'To' number +4915123456789 is not a valid phone number.", "suppressed"),
        (21614, "'To' number is not a valid mobile number", "suppressed"),
        (21408, "Permission to send an SMS has not been enabled for the region", None),
    ],
)
def test_permanent_twilio_errors_are_failed_results(
    twilio_fake: TwilioFake, code: int, message: str, consent: str | None
) -> None:
    twilio_fake.replies.append(twilio_error(400, code, message))
    result = channel(twilio_fake.url).send(make_sms())
    assert result.status == "failed"
    assert result.error_code == str(code)
    assert result.http_status == 400
    assert message in (result.reason or "")
    assert result.consent_change == (None if consent is None else ("sms", consent))


def test_opted_out_recipient_is_a_consent_change(twilio_fake: TwilioFake) -> None:
    twilio_fake.replies.append(
        twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    )
    result = channel(twilio_fake.url).send(make_sms())
    assert result.status == "failed"
    assert result.error_code == "21610"
    assert result.consent_change == ("sms", "unsubscribed")


def test_wrong_credentials_are_a_failed_result(twilio_fake: TwilioFake) -> None:
    result = TwilioChannel(
        TWILIO_SID, "wrong-token", from_number=FROM, base_url=twilio_fake.url
    ).send(make_sms())
    assert result.status == "failed"
    assert result.error_code == "20003"
    assert result.http_status == 401


def test_20429_is_retryable_with_retry_after(twilio_fake: TwilioFake) -> None:
    twilio_fake.replies.append(twilio_error(429, 20429, "Too Many Requests", {"Retry-After": "7"}))
    with pytest.raises(RetryableSendError) as raised:
        channel(twilio_fake.url).send(make_sms())
    assert raised.value.error_code == "20429"
    assert raised.value.http_status == 429
    assert raised.value.retry_after == 7.0


def test_500_is_retryable(twilio_fake: TwilioFake) -> None:
    twilio_fake.replies.append(twilio_error(500, 20500, "Internal Server Error"))
    with pytest.raises(RetryableSendError) as raised:
        channel(twilio_fake.url).send(make_sms())
    assert raised.value.http_status == 500


def test_accepted_but_failed_resource_is_a_failed_result(twilio_fake: TwilioFake) -> None:
    resource = message_resource({"To": ["+4915123456789"], "From": [FROM]}, status="failed")
    resource.update(error_code=30007, error_message="Message filtered")
    twilio_fake.replies.append(Reply(201, resource))
    result = channel(twilio_fake.url).send(make_sms())
    assert result.status == "failed"
    assert result.error_code == "30007"
    assert result.provider_message_id == resource["sid"]


def test_connection_refused_is_retryable() -> None:
    with pytest.raises(RetryableSendError, match="request not sent"):
        channel(f"http://127.0.0.1:{refused_port()}").send(make_sms())


def test_connect_timeout_is_retryable() -> None:
    with unresponsive_port() as port, pytest.raises(RetryableSendError, match="ConnectTimeout"):
        channel(f"http://127.0.0.1:{port}", connect_timeout=0.3).send(make_sms())


def test_read_timeout_after_the_request_arrived_is_unknown(twilio_fake: TwilioFake) -> None:
    twilio_fake.replies.append(Reply(201, delay=3.0))
    result = channel(twilio_fake.url, read_timeout=0.3).send(make_sms())
    assert result.status == "unknown"
    assert "ReadTimeout" in (result.reason or "")
    assert len(twilio_fake.requests) == 1


def test_connection_reset_after_the_request_arrived_is_unknown(twilio_fake: TwilioFake) -> None:
    twilio_fake.replies.append(Reply(drop=True))
    result = channel(twilio_fake.url).send(make_sms())
    assert result.status == "unknown"
    assert len(twilio_fake.requests) == 1


def test_unreadable_success_answer_is_unknown(twilio_fake: TwilioFake) -> None:
    twilio_fake.replies.append(Reply(201, "<html>proxy page</html>"))
    result = channel(twilio_fake.url).send(make_sms())
    assert result.status == "unknown"


def test_no_sender_is_a_message_error(twilio_fake: TwilioFake) -> None:
    with pytest.raises(MessageError, match="TWILIO_FROM_NUMBER"):
        channel(twilio_fake.url, from_number=None).send(make_sms())
    assert twilio_fake.requests == []


def test_with_query_replaces_a_stale_key() -> None:
    url = with_query("https://h.example/cb?idempotency_key=old&x=1", idempotency_key="new")
    assert parse_qs(urlsplit(url).query) == {"x": ["1"], "idempotency_key": ["new"]}


def test_proxy_settings_are_read_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    for name in ("NO_PROXY", "no_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    channel = TwilioChannel(TWILIO_SID, TWILIO_TOKEN, from_number="+15005550006")
    assert channel.http.session.proxies["https"] == "http://proxy.example:3128"
    assert channel.http.session.trust_env is False  # not read again for every request
