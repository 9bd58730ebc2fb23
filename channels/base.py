"""The one small protocol every outbound channel speaks, and the registry.

``build_channels`` picks, per channel kind, the provider whose keys are configured
and falls back to the outbox folder, so a fresh checkout with no keys sends nothing
anywhere yet shows every message it would have sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from channels.email_sendgrid import SendGridChannel
from channels.message import ChannelKind
from channels.outbox import OutboxChannel
from channels.protocol import Channel
from channels.ratelimit import SYSTEM_CLOCK, Clock, RateLimiter, sms_sender_rate
from channels.settings import ChannelSettings
from channels.sms_twilio import TwilioChannel
from channels.webhook_out import WebhookChannel


def default_limiter(settings: ChannelSettings, clock: Clock = SYSTEM_CLOCK) -> RateLimiter:
    """Per-sender rates: Twilio by sender type unless ``JOURNEYFLOW_SMS_RATE`` is set,
    SendGrid at ``JOURNEYFLOW_SENDGRID_RATE`` (unlimited when unset)."""

    def rate_for(channel: str, sender: str) -> float | None:
        if channel == TwilioChannel.name:
            return settings.sms_rate or sms_sender_rate(sender)
        if channel == SendGridChannel.name:
            return settings.sendgrid_rate
        return None

    return RateLimiter(rate_for, clock=clock)


def build_channels(
    settings: ChannelSettings | None = None, *, limiter: RateLimiter | None = None
) -> dict[ChannelKind, Channel]:
    """One channel per kind: the configured provider, else the outbox."""
    settings = settings if settings is not None else ChannelSettings.from_env()
    limiter = limiter if limiter is not None else default_limiter(settings)
    email: Channel = (
        SendGridChannel.from_settings(settings, limiter)
        if settings.sendgrid_configured
        else OutboxChannel.from_settings(settings, "email")
    )
    sms: Channel = (
        TwilioChannel.from_settings(settings, limiter)
        if settings.twilio_configured
        else OutboxChannel.from_settings(settings, "sms")
    )
    webhook: Channel = (
        WebhookChannel.from_settings(settings, limiter)
        if settings.webhook_configured
        else OutboxChannel.from_settings(settings, "webhook")
    )
    return {"email": email, "sms": sms, "webhook": webhook}


def close_channels(channels: Mapping[Any, Channel]) -> None:
    for channel in channels.values():
        channel.close()
