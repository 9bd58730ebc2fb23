"""Phone numbers to E.164, read in the customer's own country.

Customers type numbers the way their country writes them ('0151 23456789' in
Germany); providers want '+4915123456789'. An invalid number is a permanent problem
of the customer record, so it is caught here rather than paid for at the provider.
"""

from __future__ import annotations

import phonenumbers

from .errors import JourneyflowError
from .phone_plain import plain_e164


class InvalidPhoneNumber(JourneyflowError, ValueError):
    """The number cannot be read as a valid phone number for the given country."""


def to_e164(raw: str, country: str | None = None) -> str:
    """Return ``raw`` as E.164; ``country`` (ISO 3166 alpha-2) reads national forms."""
    region = country.upper() if country else None
    if region is not None and region not in phonenumbers.SUPPORTED_REGIONS:
        raise InvalidPhoneNumber(
            f"country '{country}' is not an ISO 3166 alpha-2 code known to the phone "
            "number library (e.g. DE, AT, CH, US, GB)"
        )
    text = raw.strip()
    if text.startswith("00"):
        # The international call prefix of most of the world, written instead of '+'.
        text = "+" + text[2:]
    plain = plain_e164(text, region)  # the usual number, the library's result sooner
    if plain is not None:
        return plain
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region else " (no country given to read a national number)"
        raise InvalidPhoneNumber(f"phone number {raw!r} cannot be read: {exc}{hint}") from None
    if not phonenumbers.is_valid_number(number):
        where = f" for country {region}" if region else ""
        raise InvalidPhoneNumber(f"phone number {raw!r} is not a valid number{where}")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# The name the channels use.
normalize_e164 = to_e164
