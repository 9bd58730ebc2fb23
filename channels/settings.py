"""Channel settings, read from the environment.

Keys decide which channels are live: with ``SENDGRID_API_KEY`` email goes to
SendGrid, with the Twilio triple SMS goes to Twilio, with a webhook secret webhooks
are POSTed; anything not configured lands in the outbox folder instead. The base URLs
can be pointed elsewhere (a regional endpoint, or a local server in tests).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from channels.errors import ChannelConfigError

# field name -> environment variable
ENV_VARS: dict[str, str] = {
    "sendgrid_api_key": "SENDGRID_API_KEY",
    "sendgrid_base_url": "JOURNEYFLOW_SENDGRID_BASE_URL",
    "sendgrid_sandbox": "JOURNEYFLOW_SENDGRID_SANDBOX",
    "sendgrid_rate": "JOURNEYFLOW_SENDGRID_RATE",
    "email_from": "JOURNEYFLOW_EMAIL_FROM",
    "email_from_name": "JOURNEYFLOW_EMAIL_FROM_NAME",
    "email_reply_to": "JOURNEYFLOW_EMAIL_REPLY_TO",
    "twilio_account_sid": "TWILIO_ACCOUNT_SID",
    "twilio_auth_token": "TWILIO_AUTH_TOKEN",
    "twilio_from_number": "TWILIO_FROM_NUMBER",
    "twilio_messaging_service_sid": "TWILIO_MESSAGING_SERVICE_SID",
    "twilio_base_url": "JOURNEYFLOW_TWILIO_BASE_URL",
    "sms_rate": "JOURNEYFLOW_SMS_RATE",
    "sms_status_callback_url": "JOURNEYFLOW_SMS_STATUS_CALLBACK_URL",
    "sms_default_country": "JOURNEYFLOW_SMS_DEFAULT_COUNTRY",
    "webhook_secret": "JOURNEYFLOW_WEBHOOK_SECRET",
    "outbox_dir": "JOURNEYFLOW_OUTBOX_DIR",
    "connect_timeout": "JOURNEYFLOW_CHANNEL_CONNECT_TIMEOUT",
    "read_timeout": "JOURNEYFLOW_CHANNEL_READ_TIMEOUT",
}
_HINTS = {"sendgrid_sandbox": "; valid are: 1, 0, true, false, yes, no, on, off"}
_TWILIO_VARS = ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN")
_TWILIO_SENDER_VARS = ("TWILIO_FROM_NUMBER", "TWILIO_MESSAGING_SERVICE_SID")


class ChannelSettings(BaseModel):
    """Everything the channels need; ``from_env()`` reads it from the environment."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sendgrid_api_key: SecretStr | None = None
    sendgrid_base_url: str = "https://api.sendgrid.com"
    sendgrid_sandbox: bool = False
    sendgrid_rate: float | None = None  # messages per second; None = unlimited
    email_from: str | None = None
    email_from_name: str | None = None
    email_reply_to: str | None = None
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_from_number: str | None = None
    twilio_messaging_service_sid: str | None = None
    twilio_base_url: str = "https://api.twilio.com"
    sms_rate: float | None = None  # None = judged from the sender (long code 1/s, …)
    sms_status_callback_url: str | None = None
    sms_default_country: str | None = None
    webhook_secret: SecretStr | None = None
    outbox_dir: Path = Path("var/outbox")
    connect_timeout: float = 5.0
    read_timeout: float = 20.0

    @field_validator("sendgrid_base_url", "twilio_base_url", "sms_status_callback_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("twilio_account_sid")
    @classmethod
    def _account_sid(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"AC[0-9a-fA-F]{32}", value):
            raise ValueError("must be 'AC' followed by 32 hex digits")
        return value

    @field_validator("twilio_messaging_service_sid")
    @classmethod
    def _service_sid(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"MG[0-9a-fA-F]{32}", value):
            raise ValueError("must be 'MG' followed by 32 hex digits")
        return value

    @field_validator("sendgrid_rate", "sms_rate", "connect_timeout", "read_timeout")
    @classmethod
    def _positive(cls, value: float | None) -> float | None:
        if value is not None and value <= 0:
            raise ValueError("must be a number > 0")
        return value

    @property
    def sendgrid_configured(self) -> bool:
        return self.sendgrid_api_key is not None

    @property
    def twilio_configured(self) -> bool:
        return self.twilio_account_sid is not None

    @property
    def webhook_configured(self) -> bool:
        return self.webhook_secret is not None

    def model_post_init(self, context: Any, /) -> None:
        given = {
            "TWILIO_ACCOUNT_SID": self.twilio_account_sid,
            "TWILIO_AUTH_TOKEN": self.twilio_auth_token,
        }
        if any(given.values()):
            missing = [name for name, value in given.items() if value is None]
            if not (self.twilio_from_number or self.twilio_messaging_service_sid):
                missing.append(" or ".join(_TWILIO_SENDER_VARS))
            if missing:
                raise ChannelConfigError(
                    f"Twilio is partly configured; missing {', '.join(missing)}. "
                    f"SMS via Twilio needs {', '.join(_TWILIO_VARS)} and one of "
                    f"{', '.join(_TWILIO_SENDER_VARS)}; unset them all to use the outbox"
                )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ChannelSettings:
        """Read settings from ``env`` (default ``os.environ``); empty values count as unset."""
        source = os.environ if env is None else env
        values = {
            name: source[var].strip()
            for name, var in ENV_VARS.items()
            if source.get(var, "").strip()
        }
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                name = str(error["loc"][0]) if error["loc"] else ""
                var = ENV_VARS.get(name, name)
                hint = _HINTS.get(name, "")
                problems.append(f"{var}={values.get(name, '')!r}: {error['msg']}{hint}")
            raise ChannelConfigError("invalid channel settings: " + "; ".join(problems)) from None
