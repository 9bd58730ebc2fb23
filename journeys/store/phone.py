"""Phone numbers to E.164, using the customer's country for national numbers.

A deliberately small table: the countries a European shop sells to. A number in
international form (+… or 00…) needs no table at all.
"""

from __future__ import annotations

import re

# country -> (calling code, whether the national trunk prefix 0 is dropped)
CALLING_CODES: dict[str, tuple[str, bool]] = {
    "AT": ("43", True),
    "BE": ("32", True),
    "CH": ("41", True),
    "CZ": ("420", False),
    "DE": ("49", True),
    "DK": ("45", False),
    "ES": ("34", False),
    "FI": ("358", True),
    "FR": ("33", True),
    "GB": ("44", True),
    "IE": ("353", True),
    "IT": ("39", False),  # Italian landlines keep their leading 0
    "LU": ("352", False),
    "NL": ("31", True),
    "NO": ("47", False),
    "PL": ("48", False),
    "PT": ("351", False),
    "SE": ("46", True),
    "US": ("1", False),
    "CA": ("1", False),
}

_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEPARATORS = re.compile(r"[\s\-./()]")


def to_e164(raw: str, country: str | None = None) -> str:
    """'+49 151 1234-5678', '0049…' or ('0151 12345678', 'DE') -> '+4915112345678'."""
    number = _SEPARATORS.sub("", raw.strip())
    if number.startswith("00"):
        number = "+" + number[2:]
    if not number.startswith("+"):
        code = CALLING_CODES.get((country or "").upper())
        if code is None:
            known = ", ".join(sorted(CALLING_CODES))
            raise ValueError(
                f"phone '{raw}' is not in international form (+<country code>…) and the "
                f"customer's country {country!r} is not one of {known}"
            )
        calling, drops_trunk = code
        # Drop the national trunk prefix: 1 in North America, 0 in most of Europe.
        trunk = "1" if calling == "1" and len(number) == 11 else "0" if drops_trunk else None
        if trunk is not None and number.startswith(trunk):
            number = number[1:]
        number = f"+{calling}{number}"
    if not _E164.match(number):
        raise ValueError(f"phone '{raw}' is not a valid number (E.164: + and 7 to 15 digits)")
    return number
