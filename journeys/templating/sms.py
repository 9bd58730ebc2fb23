"""SMS length: encoding and segment count as the carriers see them."""

from __future__ import annotations

from typing import Literal, NamedTuple

# --- SMS length -----------------------------------------------------------------------------

_GSM_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENSION = frozenset("\f^{}\\[~]|€")  # sent as ESC + character: two septets each


class SmsLength(NamedTuple):
    encoding: Literal["GSM-7", "UCS-2"]
    characters: int  # as the network counts: septets (GSM-7) or UTF-16 code units (UCS-2)
    segments: int


def sms_segments(text: str) -> SmsLength:
    """Encoding, length and segment count: 160/153 per segment in GSM-7, 70/67 in UCS-2."""
    encoding: Literal["GSM-7", "UCS-2"]
    if all(c in _GSM_BASIC or c in _GSM_EXTENSION for c in text):
        encoding, single, multi = "GSM-7", 160, 153
        costs = [2 if c in _GSM_EXTENSION else 1 for c in text]
    else:
        encoding, single, multi = "UCS-2", 70, 67
        costs = [2 if ord(c) > 0xFFFF else 1 for c in text]
    total = sum(costs)
    if total <= single:
        return SmsLength(encoding, total, 1)
    segments, used = 1, 0
    for cost in costs:  # an escape or a surrogate pair is never split across segments
        if used + cost > multi:
            segments, used = segments + 1, 0
        used += cost
    return SmsLength(encoding, total, segments)
