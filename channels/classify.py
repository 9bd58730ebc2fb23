"""One place that decides retryable vs permanent vs unknown for HTTP answers.

Every HTTP channel funnels provider refusals through ``refusal`` so the rule is the
same everywhere: 408, 429 and 5xx raise ``RetryableSendError`` (the provider did not
act on the request), any other non-2xx status is a permanent ``failed`` result.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable, Mapping
from typing import Any

from channels.errors import RetryableSendError
from channels.message import SendResult

RETRYABLE_STATUSES = frozenset({408, 425, 429})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUSES or 500 <= status <= 599


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    getter = getattr(headers, "get", None)
    if getter is None:
        return None
    value = getter(name)
    if value is None and isinstance(headers, Mapping):
        # Plain dicts are case-sensitive; providers' casing varies.
        value = next((v for k, v in headers.items() if str(k).lower() == name.lower()), None)
    return None if value is None else str(value)


def retry_after(headers: Any, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or SendGrid's
    ``X-RateLimit-Reset`` (a Unix time), whichever the answer carries."""
    value = _header(headers, "Retry-After")
    if value:
        value = value.strip()
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                return max(0.0, when.timestamp() - now())
    reset = _header(headers, "X-RateLimit-Reset")
    if reset:
        try:
            return max(0.0, float(reset) - now())
        except ValueError:
            return None
    return None


def refusal(
    channel: str,
    status: int,
    detail: str,
    *,
    headers: Any = None,
    error_code: str | None = None,
) -> SendResult:
    """Turn a non-2xx answer into a failed result, or raise if it is worth retrying."""
    if is_retryable_status(status):
        raise RetryableSendError(
            f"{channel}: HTTP {status}: {detail}",
            retry_after=retry_after(headers),
            http_status=status,
            error_code=error_code,
        )
    return SendResult(
        "failed",
        reason=f"HTTP {status}: {detail}",
        error_code=error_code,
        http_status=status,
        channel=channel,
    )


def not_sent(channel: str, exc: BaseException) -> RetryableSendError:
    """The request never reached the provider (refused, reset, connect timeout)."""
    return RetryableSendError(
        f"{channel}: request not sent ({type(exc).__name__}: {exc}); safe to retry"
    )


def outcome_unknown(channel: str, exc: BaseException) -> SendResult:
    """The request left but no answer came back: the provider may have sent it."""
    return SendResult(
        "unknown",
        reason=(
            f"no answer after the request was sent ({type(exc).__name__}: {exc}); "
            "the provider may have sent it, so it is not retried automatically"
        ),
        channel=channel,
    )
