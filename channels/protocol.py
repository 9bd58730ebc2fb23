"""The one small protocol every outbound channel implements.

A module of its own so that what sends through channels (`ratelimit`, the dispatcher)
and what builds them (`base`) both depend on it, not on each other.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from channels.message import ChannelKind, OutboundMessage, SendResult

__all__ = ["Channel"]


@runtime_checkable
class Channel(Protocol):
    """Sends one message; retryable failures raise ``RetryableSendError``.

    A channel may also have ``send_batch(messages)`` (takes a whole chunk in one call,
    results in order) with ``batch_size`` (the chunk it wants), and ``idempotent = True``
    when a second send of a key reports the first instead of delivering again; the
    dispatcher then sends again what a crash left `unknown`. The outbox folder has all
    three.
    """

    name: str
    kind: ChannelKind

    def send(self, message: OutboundMessage) -> SendResult: ...

    def close(self) -> None: ...
