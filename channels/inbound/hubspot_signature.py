"""HubSpot's v3 request signature (developers.hubspot.com, "Validating requests").

`X-HubSpot-Signature-v3` is the base64 HMAC-SHA256, keyed with the app's client secret,
of method + URI + body + `X-HubSpot-Request-Timestamp` (Unix time in milliseconds).
The URI is the full URL HubSpot called, with a fixed set of percent-encoded characters
decoded first (HubSpot signs them decoded). The timestamp is signed too, so refusing
one outside the window (5 minutes) bounds how long a captured request can be replayed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from .errors import Unauthorized
from .signatures import check_timestamp

SIGNATURE = "X-HubSpot-Signature-v3"
TIMESTAMP = "X-HubSpot-Request-Timestamp"

# Exactly the characters HubSpot decodes before signing; others stay encoded.
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ENCODED = re.compile("|".join(_DECODED), re.IGNORECASE)


def signed_uri(url: str) -> str:
    """`url` as HubSpot signs it: the listed percent-encodings decoded."""
    return _ENCODED.sub(lambda m: _DECODED[m.group(0).upper()], url)


def signature(secret: bytes, method: str, url: str, body: bytes, timestamp: str) -> str:
    message = method.upper().encode() + signed_uri(url).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret, message, hashlib.sha256).digest()).decode()


def check_timestamp_ms(value: str | None, now: datetime, tolerance: timedelta) -> str:
    """The timestamp header as sent, if it lies within `tolerance` of `now` (else 401)."""
    check_timestamp(value, now, tolerance, TIMESTAMP, per_second=1000)
    assert value is not None  # check_timestamp refused a missing one
    return value


def verify_hubspot_v3(
    secret: bytes,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
    tolerance: timedelta,
) -> None:
    """Check a v3 signature and its timestamp; 401 naming what is wrong."""
    given = headers.get(SIGNATURE)
    if not given:
        raise Unauthorized(f"missing header {SIGNATURE}")
    timestamp = check_timestamp_ms(headers.get(TIMESTAMP), now, tolerance)
    expected = signature(secret, method, url, body, timestamp)
    if not hmac.compare_digest(given.encode(), expected.encode()):
        # The URL is the usual culprit behind a proxy: say which one was checked.
        raise Unauthorized(
            f"{SIGNATURE} does not match the method, URL, body and timestamp with the "
            f"client secret (checked against {signed_uri(url).split('?')[0]}; "
            "is public_url the address HubSpot calls?)"
        )
