"""Errors of the channels room, part of journeyflow's own hierarchy.

The split decides what the dispatcher does next:

* ``RetryableSendError`` is raised when the provider certainly did not act on the
  request (HTTP 429, 5xx, connection refused, a connect timeout, Twilio 20429): the
  same message may be sent again later, after ``retry_after`` seconds if known.
* A permanent refusal (HTTP 400/401/403/413, Twilio 21211, 21610, 21614, …) is not
  an exception: it is returned as ``SendResult(status="failed")``.
* A timeout *after* the request left is returned as ``SendResult(status="unknown")``:
  the provider may have sent it, so it must never be resent blindly.
"""

from __future__ import annotations

from journeys.errors import JourneyflowError


class ChannelError(JourneyflowError):
    """Base class of every error a channel raises on purpose."""


class RetryableSendError(ChannelError):
    """The provider did not accept the message this time; sending again is safe."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        http_status: int | None = None,
        error_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.http_status = http_status
        self.error_code = error_code


class ChannelConfigError(ChannelError):
    """A channel setting (usually an environment variable) is missing or invalid."""


class MessageError(ChannelError):
    """An ``OutboundMessage`` is malformed; names the field and what would be valid."""
