"""Personal promo codes: how they are drawn, written, typed back in, and when they expire.

A code reads `PREFIX-XXXX-XXXX-XXXX-XXXX`: an optional campaign prefix (one for all, or
one per language, chosen by the customer's: `choose_prefix`), then 16
characters drawn with `secrets` from a 17-character alphabet, in groups of four so
that it can be read aloud or typed from paper without losing one's place.

The alphabet holds at most one character of each look-alike group (0/O/Q/D, 1/I/J/L,
2/Z, 5/S, 6/G, 8/B, U/V), and no vowels, so codes rarely spell words. Where the
alphabet keeps exactly one member of a group (6 of 6/G), the others are read as it
when a customer types the code; where it keeps none, there is nothing to confuse.
The prefix is chosen by the marketer and compared as written.

16 characters of 17 symbols carry 16 * log2(17) ≈ 65.4 bits: guessing one of a
million live codes takes about 2^45 tries. With the longest prefix (12 characters)
a code is 32 characters long, the width of the `promo_code.code` column.

Pure: no database, no clock; the store decides when codes are issued and redeemed.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from .model import PromoCodeSpec
from .types import parse_duration

__all__ = [
    "ALPHABET",
    "LENGTH",
    "LOOKALIKES",
    "MAX_CODE_LENGTH",
    "choose_prefix",
    "entropy_bits",
    "expires_at",
    "for_customer",
    "format_code",
    "generate_code",
    "normalize_code",
]

ALPHABET = "34679CFHKMNPRTWXY"
LENGTH = 16
GROUP = 4
MAX_PREFIX = 12
MAX_CODE_LENGTH = MAX_PREFIX + 1 + LENGTH + (LENGTH - 1) // GROUP

# Characters a reader mistakes for one another on paper or screen.
LOOKALIKES = ("0ODQ", "1IJL", "2Z", "5S", "6G", "8B", "UV")

_PREFIX_RE = re.compile(r"^[A-Z0-9]{1,12}$")
# What a customer may type or paste between groups: spaces, dashes of any width,
# dots, underscores.
_SEPARATORS_RE = re.compile(r"[\s\-‐‑‒–—―_.]+")


def entropy_bits(alphabet: str = ALPHABET, length: int = LENGTH) -> float:
    """Bits of randomness in a code's random part."""
    return length * math.log2(len(set(alphabet)))


@lru_cache(maxsize=8)
def _typo_table(alphabet: str) -> dict[int, str]:
    """Look-alikes to read as the one member of their group the alphabet holds."""
    table: dict[int, str] = {}
    for group in LOOKALIKES:
        kept = [c for c in group if c in alphabet]
        if len(kept) == 1:
            table.update({ord(c): kept[0] for c in group if c != kept[0]})
    return table


def format_code(body: str, prefix: str | None = None) -> str:
    """The display form: prefix, then the random part in groups of four."""
    groups = "-".join(body[i : i + GROUP] for i in range(0, len(body), GROUP))
    return f"{prefix}-{groups}" if prefix else groups


def choose_prefix(
    prefix: str | Mapping[str, str] | None,
    customer_locale: str | None,
    journey_locale: str | None = None,
) -> str | None:
    """The prefix for one customer: a prefix per language follows the language the
    customer's message is written in (their locale, 'de-AT' falling back to 'de'),
    else the journey's default locale, else the first one given."""
    if prefix is None or isinstance(prefix, str):
        return prefix
    by_locale = {key.lower(): value for key, value in prefix.items()}
    for raw in (customer_locale, journey_locale):
        locale = (raw or "").strip().replace("_", "-").lower()
        for candidate in (locale, locale.split("-")[0]):
            if candidate and candidate in by_locale:
                return by_locale[candidate]
    return next(iter(prefix.values()), None)


def for_customer(
    params: Mapping[str, Any], customer: Mapping[str, Any], journey_locale: str
) -> Mapping[str, Any]:
    """An action's parameters for one customer: a promo code prefix per language is
    decided when the action is scheduled, so the code is issued with the prefix that
    the customer's message shows."""
    spec = params.get("promo_code")
    if not isinstance(spec, Mapping) or not isinstance(spec.get("prefix"), Mapping):
        return params
    locale = customer.get("locale")
    prefix = choose_prefix(
        spec["prefix"], locale if isinstance(locale, str) else None, journey_locale
    )
    return {**params, "promo_code": {**spec, "prefix": prefix}}


def generate_code(prefix: str | None = None) -> str:
    """A new random code, e.g. `DANKE-7KX4-MXN9-HTC3-WRF6`."""
    if prefix is not None and not _PREFIX_RE.match(prefix):
        raise ValueError(
            f"a promo code prefix is 1 to 12 capital letters or digits, e.g. 'DANKE', "
            f"not {prefix!r}"
        )
    # Module globals read per call, so a test can shrink the code space to force
    # collisions.
    alphabet, length = ALPHABET, LENGTH
    base = len(alphabet)
    # One draw over the whole space rather than one per character: uniform, and a
    # single call into the OS random source.
    n = secrets.randbelow(base**length)
    chars = []
    for _ in range(length):
        n, digit = divmod(n, base)
        chars.append(alphabet[digit])
    return format_code("".join(chars), prefix)


def normalize_code(text: str) -> str:
    """The stored form of a code as a customer typed it: `dan ke7kx4mxn9–htc3wrf6` →
    `DANKE-7KX4-MXN9-HTC3-WRF6`.

    Case and separators do not matter. The last 16 characters are the random part
    (look-alikes mapped where the alphabet makes that unambiguous); anything before
    them is the prefix. Text that cannot be a code comes back compacted and matches
    nothing.
    """
    compact = _SEPARATORS_RE.sub("", text).upper()
    if len(compact) < LENGTH:
        return compact
    prefix, body = compact[:-LENGTH], compact[-LENGTH:]
    return format_code(body.translate(_typo_table(ALPHABET)), prefix or None)


@lru_cache(maxsize=64)
def _duration(text: str) -> timedelta:
    return parse_duration(text)


def expires_at(spec: PromoCodeSpec | Mapping[str, Any], issued_at: datetime) -> datetime:
    """When a code issued at `issued_at` stops being valid (exclusive).

    `spec` is the journey's `promo_code` setting, or its JSON form as an action's
    params carry it ({"discount": "10%", "valid_for": "30d", …}).
    """
    if isinstance(spec, PromoCodeSpec):
        return issued_at + spec.valid_for
    valid_for = spec.get("valid_for", "30d")
    if isinstance(valid_for, timedelta):
        return issued_at + valid_for
    return issued_at + _duration(str(valid_for))
