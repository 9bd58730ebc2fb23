"""Promo codes, the pure part: alphabet, entropy, format, prefixes, typing them back in."""

from __future__ import annotations

import math
import re
import secrets
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from journeys import promo
from journeys.model import PromoCodeSpec
from journeys.promo import (
    ALPHABET,
    LENGTH,
    LOOKALIKES,
    MAX_CODE_LENGTH,
    entropy_bits,
    expires_at,
    format_code,
    generate_code,
    normalize_code,
)
from journeys.store.tables import promo_code_t

BODY = rf"[{ALPHABET}]{{4}}(-[{ALPHABET}]{{4}}){{3}}"


def body_of(code: str) -> str:
    return code.replace("-", "")[-LENGTH:]


# --- the alphabet --------------------------------------------------------------------------


def test_the_alphabet_has_no_look_alikes() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET), "a character twice skews the draw"
    assert ALPHABET.upper() == ALPHABET
    for group in LOOKALIKES:
        kept = [c for c in group if c in ALPHABET]
        assert len(kept) <= 1, f"{kept} look alike"
    assert not set("0O1IL5S2Z8B") & set(ALPHABET)


def test_the_alphabet_has_no_vowels_so_codes_spell_no_words() -> None:
    assert not set("AEIOU") & set(ALPHABET)


def test_a_code_carries_at_least_64_bits() -> None:
    bits = LENGTH * math.log2(len(set(ALPHABET)))
    assert bits == pytest.approx(entropy_bits()) == pytest.approx(65.40, abs=0.01)
    assert bits >= 64


def test_the_draw_uses_secrets_over_the_whole_code_space(monkeypatch: pytest.MonkeyPatch) -> None:
    bounds: list[int] = []

    def randbelow(bound: int) -> int:
        bounds.append(bound)
        return bound - 1

    monkeypatch.setattr(secrets, "randbelow", randbelow)
    code = generate_code()
    assert bounds == [len(ALPHABET) ** LENGTH]
    assert bounds[0] >= 2**64
    # The largest draw is the last symbol everywhere: the digits map one to one.
    assert code == format_code(ALPHABET[-1] * LENGTH)


def test_every_symbol_is_drawn_evenly_at_every_position() -> None:
    n = 20_000
    codes = [generate_code() for _ in range(n)]
    assert len(set(codes)) == n
    expected = n / len(ALPHABET)
    for position in range(LENGTH):
        counts = Counter(body_of(code)[position] for code in codes)
        assert set(counts) == set(ALPHABET)
        # ±20 % is seven standard deviations: never a fluke, always a skew.
        assert all(abs(c - expected) < 0.2 * expected for c in counts.values()), counts


# --- format and prefixes -------------------------------------------------------------------


def test_a_code_is_grouped_in_fours_for_reading_aloud() -> None:
    code = generate_code()
    assert re.fullmatch(BODY, code), code
    assert len(code) == 19


@pytest.mark.parametrize("prefix", ["DANKE", "R", "WILLKOMMEN", "COMEBACK2026"])
def test_a_campaign_prefix_leads_the_code(prefix: str) -> None:
    code = generate_code(prefix)
    assert re.fullmatch(rf"{prefix}-{BODY}", code), code
    assert len(code) <= MAX_CODE_LENGTH


def test_the_longest_code_fits_the_column() -> None:
    longest = generate_code("X" * 12)
    assert len(longest) == MAX_CODE_LENGTH
    assert promo_code_t.c.code.type.length == MAX_CODE_LENGTH  # type: ignore[attr-defined]


@pytest.mark.parametrize("prefix", ["", "danke", "DAN-KE", "DANKE ", "ÄPFEL", "X" * 13])
def test_a_prefix_is_capital_letters_and_digits(prefix: str) -> None:
    with pytest.raises(ValueError, match="prefix"):
        generate_code(prefix)


def test_the_prefix_rule_is_the_journey_languages() -> None:
    for prefix in ("DANKE", "X" * 12):
        assert PromoCodeSpec(discount="10%", prefix=prefix).prefix == generate_code(prefix)[:-20]
    with pytest.raises(ValueError):
        PromoCodeSpec(discount="10%", prefix="X" * 13)


def test_a_shrunk_alphabet_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(promo, "ALPHABET", "CF")
    monkeypatch.setattr(promo, "LENGTH", 8)
    codes = {generate_code("T") for _ in range(200)}
    assert all(re.fullmatch(r"T-[CF]{4}-[CF]{4}", c) for c in codes)
    assert len(codes) <= 2**8


# --- typing a code back in -----------------------------------------------------------------


@pytest.mark.parametrize(
    "typed",
    [
        "DANKE-7KX4-MXN9-HTC3-WRF6",
        "danke-7kx4-mxn9-htc3-wrf6",
        "DANKE7KX4MXN9HTC3WRF6",
        " danke 7kx4 mxn9 htc3 wrf6 ",
        "Danke–7KX4—MXN9‐HTC3_WRF6",
        "DANKE.7KX4.MXN9.HTC3.WRF6\n",
        "DAN-KE7K-X4MX-N9HT-C3WR-F6",
    ],
)
def test_case_spaces_and_dashes_do_not_matter(typed: str) -> None:
    assert normalize_code(typed) == "DANKE-7KX4-MXN9-HTC3-WRF6"


def test_normalizing_a_fresh_code_gives_it_back() -> None:
    for prefix in (None, "DANKE", "X" * 12):
        code = generate_code(prefix)
        assert normalize_code(code) == code
        assert normalize_code(code.lower().replace("-", " ")) == code
        assert normalize_code(normalize_code(code)) == code


def test_a_look_alike_is_read_as_its_one_member_in_the_alphabet() -> None:
    # 6 is the only member of 6/G in the alphabet, so a typed G can only mean 6.
    assert "6" in ALPHABET and "G" not in ALPHABET
    assert normalize_code("7KX4-MXNG-HTC3-WRFg") == "7KX4-MXN6-HTC3-WRF6"


def test_look_alikes_without_a_member_in_the_alphabet_are_left_alone() -> None:
    # Neither 0 nor O is ever in a code: a typed O is a wrong code, not a typo.
    assert normalize_code("7KX4-MXNO-HTC3-WRF0") == "7KX4-MXNO-HTC3-WRF0"


def test_the_prefix_is_compared_as_written() -> None:
    assert normalize_code("GG-7KX4-MXN9-HTC3-WRF6") == "GG-7KX4-MXN9-HTC3-WRF6"
    assert normalize_code("bigsale 7kx4 mxn9 htc3 wrf6") == "BIGSALE-7KX4-MXN9-HTC3-WRF6"


@pytest.mark.parametrize("typed", ["", "   ", "7KX4-MXN9", "hello"])
def test_text_too_short_for_a_code_matches_nothing(typed: str) -> None:
    normal = normalize_code(typed)
    assert len(normal) < LENGTH
    assert not re.fullmatch(BODY, normal)


# --- expiry --------------------------------------------------------------------------------

ISSUED = datetime(2026, 3, 5, 9, 0, tzinfo=UTC)


def test_a_code_expires_valid_for_after_it_is_issued() -> None:
    spec = PromoCodeSpec(discount="10%", valid_for="30d")
    assert expires_at(spec, ISSUED) == ISSUED + timedelta(days=30)


def test_expiry_from_the_params_an_action_carries() -> None:
    assert expires_at({"discount": "10%", "valid_for": "14d"}, ISSUED) == ISSUED + timedelta(14)
    assert expires_at({"discount": "10%", "valid_for": "1d12h"}, ISSUED) == ISSUED + timedelta(
        hours=36
    )
    assert expires_at({"discount": "5 EUR"}, ISSUED) == ISSUED + timedelta(days=30)
    assert expires_at({"valid_for": timedelta(hours=2)}, ISSUED) == ISSUED + timedelta(hours=2)


def test_the_params_form_is_what_the_engine_hands_out() -> None:
    spec = PromoCodeSpec(discount="10%", valid_for="2w", prefix="DANKE")
    params = spec.model_dump(mode="json", exclude_none=True)
    assert params == {"discount": "10%", "valid_for": "2w", "prefix": "DANKE"}
    assert expires_at(params, ISSUED) == expires_at(spec, ISSUED) == ISSUED + timedelta(days=14)


# --- a prefix per language -------------------------------------------------------------------

LANGUAGES = st.sampled_from(["de", "en", "fr", "nl", "pl"])
PREFIXES = st.from_regex(r"[A-Z0-9]{1,12}", fullmatch=True)


def _expected(prefix: dict[str, str], customer: str | None, journey: str) -> str:
    """The rule in words: the customer's locale, its language, the journey's, the first."""
    for locale in (customer, journey):
        if locale is None:
            continue
        for candidate in (locale.lower(), locale.lower().split("-")[0]):
            if candidate in prefix:
                return prefix[candidate]
    return next(iter(prefix.values()))


@given(
    prefix=st.dictionaries(LANGUAGES, PREFIXES, min_size=1),
    language=st.none() | LANGUAGES,
    region=st.sampled_from(["", "-AT", "_CH", "-gb"]),
    journey=LANGUAGES,
)
def test_the_prefix_follows_the_customers_language(
    prefix: dict[str, str], language: str | None, region: str, journey: str
) -> None:
    customer = None if language is None else language.upper() + region
    chosen = promo.choose_prefix(prefix, customer, journey)
    assert chosen == _expected(prefix, customer.replace("_", "-") if customer else None, journey)
    assert chosen in prefix.values()


def test_one_prefix_for_all_stays_as_it_is() -> None:
    assert promo.choose_prefix("DANKE", "en", "de") == "DANKE"
    assert promo.choose_prefix(None, "en", "de") is None


def test_an_actions_prefix_is_decided_for_the_customer_and_nothing_else_changes() -> None:
    params = {
        "marketing": True,
        "promo_code": {"discount": "10%", "prefix": {"de": "DANKE", "en": "THANKS"}},
    }
    english = promo.for_customer(params, {"locale": "en-GB"}, "de")
    assert english == {"marketing": True, "promo_code": {"discount": "10%", "prefix": "THANKS"}}
    assert promo.for_customer(params, {"locale": None}, "de")["promo_code"]["prefix"] == "DANKE"
    assert params["promo_code"]["prefix"] == {"de": "DANKE", "en": "THANKS"}  # shared: untouched
    plain = {"promo_code": {"discount": "10%", "prefix": "DANKE"}}
    assert promo.for_customer(plain, {"locale": "en"}, "de") is plain


@pytest.mark.parametrize(
    ("prefix", "where", "message"),
    [
        ({}, ("prefix",), "at least one"),
        ({"de": "danke"}, ("prefix", "per_language", "de"), "should match pattern"),
        ({"deutsch": "DANKE"}, ("prefix", "per_language", "deutsch", "[key]"), "pattern"),
        ("DANKE-2024", ("prefix", "one"), "should match pattern"),
    ],
)
def test_a_bad_prefix_is_refused_naming_it(
    prefix: object, where: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        PromoCodeSpec.model_validate({"discount": "10%", "prefix": prefix})
    [error] = caught.value.errors()
    assert error["loc"] == where
    assert message in error["msg"]
