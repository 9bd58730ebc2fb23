"""Signature checks shared by the receivers: Standard Webhooks and a timestamp window.

Standard Webhooks (https://www.standardwebhooks.com): `webhook-signature` holds one or
more space-separated `v1,<base64 HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}">`,
so a sender rotating its secret can sign with the old and the new key at once; any
match with any configured secret is enough. The timestamp must lie within the
tolerance either way, which bounds how long a captured request can be replayed.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from channels.webhook_out import sign

from .errors import Unauthorized

TOLERANCE = timedelta(minutes=5)


def check_timestamp(
    seconds: str | None, now: datetime, tolerance: timedelta, header: str, *, per_second: int = 1
) -> int:
    """The Unix time in `header`, if it lies within `tolerance` of `now` (else 401).

    `per_second=1000` reads milliseconds (HubSpot).
    """
    unit = "seconds" if per_second == 1 else "milliseconds"
    if not seconds:
        raise Unauthorized(f"missing header {header}")
    try:
        value = int(seconds)
    except ValueError:
        raise Unauthorized(f"{header} is not a Unix time in {unit}") from None
    skew = now.timestamp() - value / per_second
    if abs(skew) > tolerance.total_seconds():
        side = "old" if skew > 0 else "in the future"
        raise Unauthorized(
            f"{header} is {abs(skew):.0f} s {side}; the tolerance is "
            f"±{tolerance.total_seconds():.0f} s (replayed, or the sender's clock is wrong)"
        )
    return value


def verify_standard_webhook(
    keys: Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta = TOLERANCE,
) -> str:
    """Check a Standard Webhooks signature; returns the `webhook-id` (401 on failure)."""
    msg_id = headers.get("webhook-id")
    if not msg_id:
        raise Unauthorized("missing header webhook-id")
    signatures = headers.get("webhook-signature")
    if not signatures:
        raise Unauthorized("missing header webhook-signature")
    timestamp = check_timestamp(
        headers.get("webhook-timestamp"), now, tolerance, "webhook-timestamp"
    )
    expected = [sign(key, msg_id, timestamp, body) for key in keys]
    for candidate in signatures.split():
        if not candidate.startswith("v1,"):
            continue  # another scheme (v1a: asymmetric) we do not hold a key for
        if any(hmac.compare_digest(candidate, e) for e in expected):
            return msg_id
    raise Unauthorized("webhook-signature does not match the body with any configured secret")
