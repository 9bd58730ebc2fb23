"""`plain_e164` gives `phonenumbers`' own result, or hands the number to the library.

The reference is the library's parse, validation and E.164 formatting, as `to_e164`
did before it had the plain path. Wherever `plain_e164` answers, the library must give
that number; the usual numbers (every region's example numbers, written in digits
and spaces) must be answered, or the plain path would be no faster.
"""

from __future__ import annotations

import random

import phonenumbers
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.phone import InvalidPhoneNumber, to_e164
from journeys.phone_plain import plain_e164

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
_TYPES = [
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.PREMIUM_RATE,
    phonenumbers.PhoneNumberType.VOIP,
]
_FORMATS = [
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.E164,
]


def library(text: str, region: str | None) -> str | None:
    """The library alone: E.164 of a valid number, else None."""
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _digits_and_spaces(text: str) -> str:
    kept = "".join(c if c.isdigit() or c == "+" else " " for c in text)
    return " ".join(kept.split())


def _examples() -> list[tuple[str, str]]:
    found = []
    for region in REGIONS:
        for kind in _TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                for form in _FORMATS:
                    text = phonenumbers.format_number(number, form)
                    found.append((_digits_and_spaces(text), region))
    return found


EXAMPLES = _examples()


def test_every_regions_example_numbers_as_the_library_reads_them() -> None:
    answered = 0
    for text, region in EXAMPLES:
        plain = plain_e164(text, region)
        if plain is not None:
            answered += 1
            assert plain == library(text, region), (text, region)
    assert answered >= 0.9 * len(EXAMPLES)  # the plain path is the usual one


def test_changed_digits_as_the_library_reads_them() -> None:
    """Example numbers with digits changed: valid and invalid ones, any length."""
    rng = random.Random(5)
    answered = 0
    for _ in range(20_000):
        text, region = rng.choice(EXAMPLES)
        text = "".join(
            str(rng.randrange(10)) if c.isdigit() and rng.random() < 0.2 else c for c in text
        )
        text = text[: rng.randrange(1, len(text) + 1)] if rng.random() < 0.2 else text
        text = text.strip()
        for where in (region, rng.choice(REGIONS), None):
            plain = plain_e164(text, where)
            if plain is not None:
                answered += 1
                assert plain == library(text, where), (text, where)
    assert answered > 1000


_PLAINISH = st.text(st.sampled_from("0123456789 +"), min_size=1, max_size=20).map(str.strip)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_PLAINISH | st.text(max_size=20), st.sampled_from([*REGIONS, None]))
def test_any_text_as_the_library_reads_it(text: str, region: str | None) -> None:
    plain = plain_e164(text, region)
    if plain is not None:
        assert plain == library(text, region)


@pytest.mark.parametrize(
    ("raw", "country"),
    [
        *(("0151 23456789", "DE"), ("0049 151 23456789", "de"), ("+1 202 555 0143", None)),
        *(("0664 1234567", "AT"), ("020 7946 0958", "GB"), ("06 12 34 56 78", "FR")),
        *(("0151 2345", "DE"), ("+49 0151 23456789", None), ("4915123456789", "DE")),
    ],
)
def test_to_e164_as_the_library(raw: str, country: str | None) -> None:
    text = "+" + raw[2:] if raw.startswith("00") else raw
    reference = library(text, country.upper() if country else None)
    if reference is None:
        with pytest.raises(InvalidPhoneNumber):
            to_e164(raw, country)
    else:
        assert to_e164(raw, country) == reference


def test_a_german_mobile_number() -> None:
    assert to_e164("0151 23456789", "DE") == plain_e164("015123456789", "DE") == "+4915123456789"
