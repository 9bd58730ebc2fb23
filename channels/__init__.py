"""channels: every edge between journeyflow and the outside world.

Outbound: email via SendGrid, SMS via Twilio, signed webhooks, and the outbox folder
that stands in for all of them when no provider keys are configured.

Names are imported on first use, so that code needing only ``OutboundMessage`` does
not pay for loading the provider SDKs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from journeys.lazy_names import lazy_names

if TYPE_CHECKING:
    from channels.base import build_channels, close_channels, default_limiter
    from channels.email_sendgrid import SendGridChannel
    from channels.errors import (
        ChannelConfigError,
        ChannelError,
        MessageError,
        RetryableSendError,
    )
    from channels.message import (
        CHANNEL_KINDS,
        ChannelKind,
        OutboundMessage,
        SendResult,
        SendStatus,
        webhook_payload,
    )
    from channels.outbox import OutboxChannel
    from channels.protocol import Channel
    from channels.ratelimit import (
        Clock,
        RateLimiter,
        SendOutcome,
        SystemClock,
        TokenBucket,
        send_many,
        sms_sender_rate,
    )
    from channels.settings import ChannelSettings
    from channels.sms_twilio import TwilioChannel
    from channels.webhook_out import WebhookChannel, sign
    from journeys.phone import InvalidPhoneNumber, normalize_e164

_EXPORTS: dict[str, str] = {
    "Channel": "channels.protocol",
    "build_channels": "channels.base",
    "close_channels": "channels.base",
    "default_limiter": "channels.base",
    "SendGridChannel": "channels.email_sendgrid",
    "ChannelConfigError": "channels.errors",
    "ChannelError": "channels.errors",
    "MessageError": "channels.errors",
    "RetryableSendError": "channels.errors",
    "CHANNEL_KINDS": "channels.message",
    "ChannelKind": "channels.message",
    "OutboundMessage": "channels.message",
    "SendResult": "channels.message",
    "SendStatus": "channels.message",
    "webhook_payload": "channels.message",
    "OutboxChannel": "channels.outbox",
    "InvalidPhoneNumber": "journeys.phone",
    "normalize_e164": "journeys.phone",
    "Clock": "channels.ratelimit",
    "RateLimiter": "channels.ratelimit",
    "SendOutcome": "channels.ratelimit",
    "SystemClock": "channels.ratelimit",
    "TokenBucket": "channels.ratelimit",
    "send_many": "channels.ratelimit",
    "sms_sender_rate": "channels.ratelimit",
    "ChannelSettings": "channels.settings",
    "TwilioChannel": "channels.sms_twilio",
    "WebhookChannel": "channels.webhook_out",
    "sign": "channels.webhook_out",
}

__all__ = [
    "CHANNEL_KINDS",
    "Channel",
    "ChannelConfigError",
    "ChannelError",
    "ChannelKind",
    "ChannelSettings",
    "Clock",
    "InvalidPhoneNumber",
    "MessageError",
    "OutboundMessage",
    "OutboxChannel",
    "RateLimiter",
    "RetryableSendError",
    "SendGridChannel",
    "SendOutcome",
    "SendResult",
    "SendStatus",
    "SystemClock",
    "TokenBucket",
    "TwilioChannel",
    "WebhookChannel",
    "build_channels",
    "close_channels",
    "default_limiter",
    "normalize_e164",
    "send_many",
    "sign",
    "sms_sender_rate",
    "webhook_payload",
]

__getattr__, __dir__ = lazy_names(__name__, _EXPORTS, globals())
