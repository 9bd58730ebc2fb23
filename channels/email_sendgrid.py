"""Email through SendGrid's v3 Mail Send API, with the official ``sendgrid`` SDK.

The request body is built as a plain dict (the SDK accepts one) so that every field
sits where SendGrid's OpenAPI spec puts it: ``custom_args`` goes on the
personalization, where the spec types it as an object; the message-level
``custom_args`` is typed as a string there.
"""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import http.client
import json
import re
import urllib.error
from typing import Any

import python_http_client.exceptions  # type: ignore[import-untyped]
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import Attachment as SendGridAttachment
from sendgrid.helpers.mail import Disposition, FileContent, FileName, FileType

from channels.classify import not_sent, outcome_unknown, refusal
from channels.errors import ChannelConfigError, MessageError
from channels.http_keepalive import KeepAliveTransport
from channels.message import Attachment, ChannelKind, OutboundMessage, SendResult
from channels.ratelimit import RateLimiter
from channels.settings import ChannelSettings


def _address(value: str, name: str | None = None) -> dict[str, str]:
    parsed_name, address = email.utils.parseaddr(value)
    if "@" not in address:
        raise MessageError(f"email address {value!r} is not valid")
    result = {"email": address}
    if name or parsed_name:
        result["name"] = name or parsed_name
    return result


def _attachment(attachment: Attachment) -> dict[str, str]:
    """One attachment as the SDK writes it: base64 content, type, filename, disposition."""
    built = SendGridAttachment(
        FileContent(base64.b64encode(attachment.content).decode("ascii")),
        FileName(attachment.filename),
        FileType(attachment.mime_type),
        Disposition("attachment"),
    )
    return dict(built.get())


def _error_detail(body: Any) -> str:
    """SendGrid's ``{"errors": [{"message", "field"}]}`` as one readable line."""
    try:
        payload = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        errors = payload.get("errors") or []
        parts = [
            f"{e['field']}: {e['message']}" if e.get("field") else str(e.get("message"))
            for e in errors
            if isinstance(e, dict)
        ]
        if parts:
            return "; ".join(parts)
    except (ValueError, AttributeError, TypeError):
        pass
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body or "")
    return text[:500] or "no error detail"


# The recipient's own address is what SendGrid refused ("Does not contain a valid
# address."): no later message can reach it either.
_RECIPIENT_FIELD = re.compile(r"personalizations\.\d+\.to\.\d+\.email")


def _unusable_address(result: SendResult, body: Any) -> SendResult:
    """A permanent refusal of the recipient's address suppresses it (for every journey)."""
    if result.status != "failed" or result.http_status != 400:
        return result
    try:
        payload = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        fields = [str(e.get("field") or "") for e in payload.get("errors") or []]
    except (ValueError, AttributeError, TypeError):
        return result
    if any(_RECIPIENT_FIELD.fullmatch(f) for f in fields):
        return dataclasses.replace(result, consent_change=("email", "suppressed"))
    return result


class SendGridChannel:
    """``Channel`` for email via SendGrid."""

    name = "sendgrid"
    kind: ChannelKind = "email"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.sendgrid.com",
        sandbox: bool = False,
        default_from_email: str | None = None,
        default_from_name: str | None = None,
        default_reply_to: str | None = None,
        timeout: float = 20.0,
        limiter: RateLimiter | None = None,
    ) -> None:
        if not api_key:
            raise ChannelConfigError("SENDGRID_API_KEY is empty; SendGrid needs an API key")
        self._client = SendGridAPIClient(api_key=api_key, host=base_url.rstrip("/"))
        self.base_url = base_url.rstrip("/")
        # The endpoint's client is built once (the SDK builds one per URL segment on every
        # access) and sends over kept-alive connections instead of one new one per request.
        self._transport = KeepAliveTransport(self.base_url, timeout)
        self._endpoint = self._client.client.mail.send
        self._endpoint._make_request = self._transport.make_request
        self.sandbox = sandbox
        self._default_from = default_from_email
        self._default_from_name = default_from_name
        self._default_reply_to = default_reply_to
        # One timeout for connecting and for each read, as urllib (under the SDK) has.
        self._timeout = timeout
        self._limiter = limiter

    @classmethod
    def from_settings(
        cls, settings: ChannelSettings, limiter: RateLimiter | None = None
    ) -> SendGridChannel:
        if settings.sendgrid_api_key is None:
            raise ChannelConfigError("SENDGRID_API_KEY is not set")
        return cls(
            settings.sendgrid_api_key.get_secret_value(),
            base_url=settings.sendgrid_base_url,
            sandbox=settings.sendgrid_sandbox,
            default_from_email=settings.email_from,
            default_from_name=settings.email_from_name,
            default_reply_to=settings.email_reply_to,
            timeout=max(settings.connect_timeout, settings.read_timeout),
            limiter=limiter,
        )

    def build_body(self, message: OutboundMessage) -> dict[str, Any]:
        """The v3 ``/mail/send`` request body for ``message``."""
        if message.channel != "email":
            raise MessageError(f"{self.name} sends email messages; got channel '{message.channel}'")
        sender = message.from_email or self._default_from
        if not sender:
            raise MessageError(
                "from_email is not set on the message and JOURNEYFLOW_EMAIL_FROM is not "
                "configured; SendGrid needs a verified sender"
            )
        content = [
            {"type": mime, "value": value}
            for mime, value in (("text/plain", message.text), ("text/html", message.html))
            if value
        ]
        body: dict[str, Any] = {
            "personalizations": [
                {"to": [_address(message.to)], "custom_args": dict(message.custom_args)}
            ],
            "from": _address(sender, message.from_name or self._default_from_name),
            "subject": message.subject,
            "content": content,
            "mail_settings": {"sandbox_mode": {"enable": self.sandbox}},
        }
        reply_to = message.reply_to or self._default_reply_to
        if reply_to:
            body["reply_to"] = _address(reply_to)
        if message.headers:
            body["headers"] = dict(message.headers)
        if message.categories:
            body["categories"] = list(message.categories)
        if message.attachments:
            body["attachments"] = [_attachment(a) for a in message.attachments]
        return body

    def send(self, message: OutboundMessage) -> SendResult:
        body = self.build_body(message)
        if self._limiter is not None:
            self._limiter.acquire(self.name, body["from"]["email"])
        try:
            response = self._endpoint.post(request_body=body, timeout=self._timeout)
        except python_http_client.exceptions.HTTPError as exc:
            refused = refusal(
                self.name, int(exc.status_code), _error_detail(exc.body), headers=exc.headers
            )
            return _unusable_address(refused, exc.body)
        except urllib.error.URLError as exc:
            # Raised only while connecting or writing the request (see KeepAliveTransport).
            raise not_sent(self.name, exc) from exc
        except (OSError, http.client.HTTPException) as exc:
            # Anything later (read timeout, reset, garbled answer) came after sending.
            return outcome_unknown(self.name, exc)
        status = int(response.status_code)
        headers = response.headers
        provider_id = headers.get("X-Message-Id") if headers is not None else None
        if 200 <= status < 300:
            return SendResult(
                "sent",
                provider_message_id=provider_id,
                http_status=status,
                reason="sandbox mode: accepted, not delivered" if self.sandbox else None,
                channel=self.name,
            )
        refused = refusal(self.name, status, _error_detail(response.body), headers=headers)
        return _unusable_address(refused, response.body)

    def close(self) -> None:
        self._transport.close()
