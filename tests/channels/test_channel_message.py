"""OutboundMessage validation, settings from the environment, the registry, E.164."""

from __future__ import annotations

from pathlib import Path

import pytest
from channel_fakes import SENDGRID_KEY, TWILIO_SID, TWILIO_TOKEN, make_email, make_sms

from channels import (
    Channel,
    ChannelConfigError,
    ChannelSettings,
    InvalidPhoneNumber,
    MessageError,
    OutboxChannel,
    SendGridChannel,
    SendResult,
    TwilioChannel,
    WebhookChannel,
    build_channels,
    close_channels,
    normalize_e164,
)
from channels.settings import ENV_VARS

WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def test_custom_args_carry_ids_and_tracked_metadata() -> None:
    message = make_email(custom_args={"campaign": "spring"})
    assert message.custom_args == {
        "campaign": "spring",
        "journey": "post_purchase",
        "stage": "evaluation",
        "action": "review_request",
        "customer_id": "cust-42",
        "variant": "B",
        "message_id": message.message_id,
        "idempotency_key": message.idempotency_key,
    }
    assert "country" not in message.custom_args  # not tracked, only used to read numbers


def test_conflicting_custom_args_id_is_refused() -> None:
    with pytest.raises(MessageError, match="custom_args 'message_id'"):
        make_email(custom_args={"message_id": "something-else"})


def test_non_string_custom_args_are_refused() -> None:
    with pytest.raises(MessageError, match="custom_args 'score' must be a string"):
        make_email(custom_args={"score": 5})


def test_unknown_channel_suggests_the_closest() -> None:
    with pytest.raises(MessageError, match=r"did you mean 'email'.*valid are: email, sms, webhook"):
        make_email(channel="emial")


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"subject": " "}, "subject is required"),
        ({"text": None, "html": ""}, "needs text or html"),
        ({"to": ""}, "to is required"),
        ({"idempotency_key": "has space"}, "idempotency_key"),
        ({"message_id": "not-a-uuid"}, "not a UUID"),
        ({"headers": {"Subject": "x"}}, "reserved are: .*subject"),
        ({"headers": {"X-Bad": "a\r\nBcc: x@example.com"}}, "single-line"),
        ({"categories": "one"}, "list of strings"),
        ({"categories": [f"c{i}" for i in range(11)]}, "at most 10"),
    ],
)
def test_invalid_email_messages(overrides: dict[str, object], match: str) -> None:
    with pytest.raises(MessageError, match=match):
        make_email(**overrides)


def test_one_click_unsubscribe_needs_an_https_uri() -> None:
    with pytest.raises(MessageError, match="RFC 8058"):
        make_email(
            headers={
                "List-Unsubscribe": "<mailto:u@shop.example>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
        )


def test_duplicate_categories_are_folded() -> None:
    assert make_email(categories=["a", "b", "a"]).categories == ("a", "b")


def test_sms_needs_text_and_webhook_needs_a_url() -> None:
    with pytest.raises(MessageError, match="text is required for a sms"):
        make_sms(text="")
    with pytest.raises(MessageError, match="http"):
        make_sms(channel="webhook", to="crm")


def test_send_result_status_is_checked() -> None:
    assert SendResult("sent").ok
    with pytest.raises(MessageError, match="valid are: failed, sent, unknown"):
        SendResult("delivered")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "country", "e164"),
    [
        ("0151 23456789", "DE", "+4915123456789"),
        ("0151/234-567-89", "de", "+4915123456789"),
        ("+49 151 23456789", None, "+4915123456789"),
        ("0049 151 23456789", "DE", "+4915123456789"),
        ("07400 123456", "GB", "+447400123456"),
        ("(415) 555-2671", "US", "+14155552671"),
    ],
)
def test_e164_in_the_customers_country(raw: str, country: str | None, e164: str) -> None:
    assert normalize_e164(raw, country) == e164


@pytest.mark.parametrize(
    ("raw", "country", "match"),
    [
        ("0151 23456789", None, "no country given"),
        ("12345", "DE", "not a valid number for country DE"),
        ("0151 23456789", "XX", "country 'XX' is not an ISO 3166"),
    ],
)
def test_invalid_numbers(raw: str, country: str | None, match: str) -> None:
    with pytest.raises(InvalidPhoneNumber, match=match):
        normalize_e164(raw, country)


def test_settings_from_env_and_defaults() -> None:
    settings = ChannelSettings.from_env({"JOURNEYFLOW_OUTBOX_DIR": "/tmp/x", "UNRELATED": "1"})
    assert settings.outbox_dir == Path("/tmp/x")
    assert not (settings.sendgrid_configured or settings.twilio_configured)
    assert settings.sendgrid_base_url == "https://api.sendgrid.com"
    assert ChannelSettings.from_env({"SENDGRID_API_KEY": "  "}).sendgrid_api_key is None


def test_partial_twilio_settings_name_what_is_missing() -> None:
    with pytest.raises(ChannelConfigError) as raised:
        ChannelSettings.from_env({"TWILIO_ACCOUNT_SID": TWILIO_SID})
    text = str(raised.value)
    assert "missing TWILIO_AUTH_TOKEN, TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID" in text


@pytest.mark.parametrize(
    ("env", "match"),
    [
        ({"JOURNEYFLOW_SENDGRID_SANDBOX": "maybe"}, "valid are: 1, 0, true, false"),
        ({"TWILIO_ACCOUNT_SID": "AC123"}, "TWILIO_ACCOUNT_SID='AC123': .*32 hex digits"),
        ({"JOURNEYFLOW_TWILIO_BASE_URL": "api.twilio.com"}, "JOURNEYFLOW_TWILIO_BASE_URL"),
        ({"JOURNEYFLOW_SENDGRID_RATE": "-1"}, "JOURNEYFLOW_SENDGRID_RATE"),
    ],
)
def test_invalid_settings_name_the_variable(env: dict[str, str], match: str) -> None:
    with pytest.raises(ChannelConfigError, match=match):
        ChannelSettings.from_env(env)


def test_registry_uses_the_outbox_without_keys(tmp_path: Path) -> None:
    channels = build_channels(ChannelSettings(outbox_dir=tmp_path))
    assert set(channels) == {"email", "sms", "webhook"}
    for kind, channel in channels.items():
        assert isinstance(channel, OutboxChannel)
        assert isinstance(channel, Channel)
        assert channel.kind == kind
    assert channels["email"].send(make_email()).status == "sent"
    close_channels(channels)


def test_registry_uses_providers_when_keys_are_set(tmp_path: Path) -> None:
    settings = ChannelSettings.from_env(
        {
            "SENDGRID_API_KEY": SENDGRID_KEY,
            "TWILIO_ACCOUNT_SID": TWILIO_SID,
            "TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TWILIO_MESSAGING_SERVICE_SID": "MG" + "1" * 32,
            "JOURNEYFLOW_WEBHOOK_SECRET": WHSEC,
            "JOURNEYFLOW_OUTBOX_DIR": str(tmp_path),
        }
    )
    channels = build_channels(settings)
    assert isinstance(channels["email"], SendGridChannel)
    assert isinstance(channels["sms"], TwilioChannel)
    assert isinstance(channels["webhook"], WebhookChannel)
    assert all(isinstance(c, Channel) for c in channels.values())
    close_channels(channels)


def test_registry_reads_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JOURNEYFLOW_OUTBOX_DIR", str(tmp_path))
    monkeypatch.setenv("SENDGRID_API_KEY", SENDGRID_KEY)
    channels = build_channels()
    assert isinstance(channels["email"], SendGridChannel)
    assert isinstance(channels["sms"], OutboxChannel)
    assert channels["sms"].directory == tmp_path
