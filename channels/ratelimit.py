"""Provider rate limits and bounded concurrency for HTTP sends.

Providers throttle per sender (a Twilio long code takes about one SMS a second, a
toll-free number three, a short code a hundred); sending faster only buys 429s and
carrier filtering. A ``TokenBucket`` per (channel, sender) keeps each one at its rate,
and ``send_many`` caps how many requests are in flight at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import TYPE_CHECKING, Protocol

from channels.errors import ChannelConfigError, ChannelError
from channels.message import OutboundMessage, SendResult

if TYPE_CHECKING:
    from channels.protocol import Channel

log = logging.getLogger(__name__)

SMS_RATE_LONG_CODE = 1.0
SMS_RATE_TOLL_FREE = 3.0
SMS_RATE_SHORT_CODE = 100.0
SMS_RATE_MESSAGING_SERVICE = 10.0  # a service spreads over its sender pool


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()


class TokenBucket:
    """``rate`` tokens a second, at most ``burst`` saved up; thread-safe.

    ``acquire`` reserves its token under the lock and sleeps outside it, so waiting
    callers queue in arrival order and never oversubscribe the rate.
    """

    def __init__(self, rate: float, burst: float = 1.0, clock: Clock = SYSTEM_CLOCK) -> None:
        if rate <= 0:
            raise ChannelConfigError(f"rate must be > 0 messages per second, got {rate}")
        if burst < 1:
            raise ChannelConfigError(f"burst must be >= 1 message, got {burst}")
        self.rate = float(rate)
        self.burst = float(burst)
        self._clock = clock
        self._tokens = self.burst
        self._stamp = clock.monotonic()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_acquire(self) -> bool:
        """Take a token if one is there now; never waits."""
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def acquire(self) -> float:
        """Take a token, waiting as long as needed; returns the seconds waited."""
        with self._lock:
            self._refill()
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait > 0:
            self._clock.sleep(wait)
        return wait


def sms_sender_rate(sender: str) -> float:
    """Messages per second a Twilio sender is allowed, judged from its form."""
    if sender.startswith("MG"):
        return SMS_RATE_MESSAGING_SERVICE
    digits = sender.lstrip("+")
    if digits.isdigit() and len(digits) <= 6:
        return SMS_RATE_SHORT_CODE
    import phonenumbers

    try:
        number = phonenumbers.parse(sender, None)
    except phonenumbers.NumberParseException:
        return SMS_RATE_LONG_CODE
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.TOLL_FREE:
        return SMS_RATE_TOLL_FREE
    return SMS_RATE_LONG_CODE


class RateLimiter:
    """Token buckets by (channel name, sender), created on first use.

    ``rate_for(channel, sender)`` gives messages per second; ``None`` means unlimited.
    """

    def __init__(
        self,
        rate_for: Callable[[str, str], float | None],
        *,
        burst: float = 1.0,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._rate_for = rate_for
        self._burst = burst
        self._clock = clock
        self._buckets: dict[tuple[str, str], TokenBucket | None] = {}
        self._lock = threading.Lock()

    def bucket(self, channel: str, sender: str) -> TokenBucket | None:
        key = (channel, sender)
        with self._lock:
            if key not in self._buckets:
                rate = self._rate_for(channel, sender)
                self._buckets[key] = (
                    None if rate is None else TokenBucket(rate, self._burst, self._clock)
                )
            return self._buckets[key]

    def acquire(self, channel: str, sender: str) -> float:
        bucket = self.bucket(channel, sender)
        return 0.0 if bucket is None else bucket.acquire()


SendOutcome = SendResult | ChannelError


def _unexpected(channel: Channel, message: OutboundMessage, exc: Exception) -> SendResult:
    log.error("unexpected error sending %s via %s", message.message_id, channel.name, exc_info=exc)
    return SendResult(
        "unknown", reason=f"unexpected {type(exc).__name__}: {exc}", channel=channel.name
    )


def _send_one(channel: Channel, message: OutboundMessage) -> SendOutcome:
    try:
        return channel.send(message)
    except ChannelError as exc:
        return exc
    except Exception as exc:
        return _unexpected(channel, message, exc)


def _send_batch(channel: Channel, batch: Sequence[OutboundMessage]) -> list[SendOutcome]:
    try:
        return list(channel.send_batch(batch))  # type: ignore[attr-defined]
    except Exception as exc:  # which of them were written is not known
        return [_unexpected(channel, message, exc) for message in batch]


def start_many(
    channel: Channel, messages: Iterable[OutboundMessage], pool: Executor
) -> Callable[[], list[SendOutcome]]:
    """Start sending from ``pool`` and return at once; the result waits for the outcomes.

    ``pool`` must have as many threads as requests may be in flight. The caller may do
    other work meanwhile (render the next chunk) instead of waiting idle.
    """
    batch: Sequence[OutboundMessage] = list(messages)
    if not batch:
        return list
    if hasattr(channel, "send_batch"):
        return pool.submit(_send_batch, channel, batch).result
    futures = [pool.submit(_send_one, channel, message) for message in batch]
    return lambda: [future.result() for future in futures]


def send_many(
    channel: Channel,
    messages: Iterable[OutboundMessage],
    concurrency: int = 4,
    pool: Executor | None = None,
) -> list[SendOutcome]:
    """Send with at most ``concurrency`` requests in flight; results in input order.

    A ``ChannelError`` (above all ``RetryableSendError``) is collected in the message's
    slot instead of failing the batch, so the messages that did go out are still
    recorded. Any other exception means we cannot tell whether the request left, so
    that message is reported ``unknown`` rather than risk a blind resend.

    A channel with ``send_batch`` (the outbox) takes the messages in one call, which it
    can make durable together. Others are sent from ``pool`` when given (a caller that
    sends chunk after chunk keeps its threads), else from threads started for the call.
    """
    if concurrency < 1:
        raise ChannelConfigError(f"concurrency must be >= 1, got {concurrency}")
    batch: Sequence[OutboundMessage] = list(messages)
    if not batch:
        return []
    if hasattr(channel, "send_batch"):
        return _send_batch(channel, batch)
    if len(batch) == 1:
        return [_send_one(channel, batch[0])]
    if pool is not None:
        return start_many(channel, batch, pool)()
    workers = min(concurrency, len(batch))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="send") as own:
        return start_many(channel, batch, own)()
