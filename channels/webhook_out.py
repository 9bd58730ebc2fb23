"""Outgoing webhooks: a JSON POST signed per the Standard Webhooks scheme.

``webhook-id`` is the idempotency key, so the receiver can drop a redelivery;
``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``
keyed with the base64-decoded part of the ``whsec_…`` secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from channels.classify import not_sent, outcome_unknown, refusal
from channels.errors import ChannelConfigError, MessageError
from channels.message import ChannelKind, OutboundMessage, SendResult, webhook_payload
from channels.ratelimit import RateLimiter
from channels.settings import ChannelSettings

SECRET_PREFIX = "whsec_"

# Failures that happen before the request is complete on the wire: the receiver
# cannot have acted on it.
_NOT_SENT = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    httpx.WriteError,
    httpx.WriteTimeout,
    httpx.ProxyError,
)


def decode_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (the prefix is optional)."""
    raw = secret[len(SECRET_PREFIX) :] if secret.startswith(SECRET_PREFIX) else secret
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) < 16:
        raise ChannelConfigError(
            "JOURNEYFLOW_WEBHOOK_SECRET must be 'whsec_' followed by base64 of at least "
            "16 random bytes (e.g. whsec_ + base64 of 32 bytes)"
        )
    return key


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one delivery."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


class WebhookChannel:
    """``Channel`` that POSTs signed JSON to the URL in ``message.to``."""

    name = "webhook"
    kind: ChannelKind = "webhook"

    def __init__(
        self,
        secret: str,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        clock: Callable[[], float] = time.time,
        limiter: RateLimiter | None = None,
    ) -> None:
        self._key = decode_secret(secret)
        self._clock = clock
        self._limiter = limiter
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        # No keep-alive: a request written onto a connection the receiver has just
        # closed would end "unknown" although it was never read.
        self._client = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"user-agent": "journeyflow-webhooks"},
        )

    @classmethod
    def from_settings(
        cls, settings: ChannelSettings, limiter: RateLimiter | None = None
    ) -> WebhookChannel:
        if settings.webhook_secret is None:
            raise ChannelConfigError("JOURNEYFLOW_WEBHOOK_SECRET is not set")
        return cls(
            settings.webhook_secret.get_secret_value(),
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            limiter=limiter,
        )

    def request(self, message: OutboundMessage) -> tuple[bytes, dict[str, str]]:
        """The body and headers of the delivery of ``message``."""
        if message.channel != "webhook":
            raise MessageError(
                f"{self.name} sends webhook messages; got channel '{message.channel}'"
            )
        timestamp = int(self._clock())
        payload = webhook_payload(message, datetime.fromtimestamp(timestamp, UTC))
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str)
        raw = body.encode("utf-8")
        headers = {
            "content-type": "application/json",
            "webhook-id": message.idempotency_key,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(self._key, message.idempotency_key, timestamp, raw),
        }
        return raw, headers

    def send(self, message: OutboundMessage) -> SendResult:
        body, headers = self.request(message)
        if self._limiter is not None:
            self._limiter.acquire(self.name, httpx.URL(message.to).host)
        try:
            response = self._client.post(message.to, content=body, headers=headers)
        except _NOT_SENT as exc:
            raise not_sent(self.name, exc) from exc
        except httpx.TransportError as exc:
            return outcome_unknown(self.name, exc)
        if response.is_success:
            return SendResult(
                "sent",
                provider_message_id=message.idempotency_key,
                http_status=response.status_code,
                channel=self.name,
            )
        detail = response.text[:300].strip() or response.reason_phrase
        return refusal(self.name, response.status_code, detail, headers=response.headers)

    def close(self) -> None:
        self._client.close()
