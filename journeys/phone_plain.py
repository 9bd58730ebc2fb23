"""The usual phone number read to E.164 in a fifth of `phonenumbers`' time, same result.

`phonenumbers.parse` is written for anything a person may type ('Tel: (030) 1234-567
ext. 8', letters, full-width digits, RFC 3966); then `is_valid_number` tries a
number against every type of number of its region, each pattern looked up and
compiled again. A file of customers mostly holds digits and spaces, perhaps after a
'+'. For exactly those, `plain_e164` takes the steps `parse` and `is_valid_number`
take on such a string, with each region's patterns compiled once; the steps that
decide (the national prefix, the possible lengths) are `phonenumbers`' own
functions. Where the library would take a rarer branch (an international call
prefix, a country code written without '+', a non-geographic code) it answers None
and the caller asks `phonenumbers` itself, as for any other string: so a number this
accepts is the library's own result, and every refusal is the library's own error.
`tests/journeys/test_phone_plain.py` holds both to the same results.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, enable_pattern_cache
from phonenumbers.phonemetadata import PhoneNumberDesc
from phonenumbers.phonenumberutil import (
    ValidationResult,
    _extract_country_code,
    _maybe_strip_national_prefix_carrier_code,
    _test_number_length,
)

# The library compiles a metadata pattern each time it uses one (through the `re`
# module's cache, which costs a lookup by pattern, type and flags): keeping them is
# its own option, and the patterns are a few thousand at most.
enable_pattern_cache()

# Digits and single spaces, perhaps after one '+': nothing `parse` would cut off, read
# as an extension or as letters; ASCII only, so `str.replace` is its normalising.
_PLAIN = re.compile(r"\+?[0-9]+(?: [0-9]+)*")
_MAX_INPUT, _MIN_NSN, _MAX_NSN = 250, 2, 17  # parse's limits
# `parse` keeps the national prefix when the number without it would be one of these.
_KEEP_PREFIX = (
    ValidationResult.TOO_SHORT,
    ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
    ValidationResult.INVALID_LENGTH,
)
_NON_GEOGRAPHIC = "001"

Desc = tuple[frozenset[int] | None, Callable[[str], object]]  # (lengths, full match)


def _desc(desc: PhoneNumberDesc | None) -> Desc | None:
    """`_is_number_matching_desc`'s test, compiled once (None: matches nothing)."""
    if desc is None or not desc.national_number_pattern:
        return None
    lengths = frozenset(desc.possible_length) if desc.possible_length else None
    return lengths, re.compile(desc.national_number_pattern).fullmatch


def _matches(desc: Desc | None, number: str) -> bool:
    if desc is None:
        return False
    lengths, full = desc
    return (lengths is None or len(number) in lengths) and full(number) is not None


@dataclass(frozen=True, slots=True)
class _Region:
    metadata: PhoneMetadata
    code: str  # the country calling code, as digits
    names: tuple[str, ...]  # the regions of that code
    idd: Callable[[str], object] | None  # the international call prefix at the start
    leading: Callable[[str], object] | None  # leading digits, for a code shared by regions
    general: Desc | None
    kinds: tuple[Desc, ...]

    def valid(self, number: str) -> bool:
        """`_number_type_helper(number) != UNKNOWN`: the region's general pattern and the
        pattern of one type of number (which one does not matter here). As there, the
        mobile pattern is not tried when it is the fixed line's."""
        return _matches(self.general, number) and any(_matches(k, number) for k in self.kinds)


_regions: dict[str, _Region] = {}


def _region(name: str) -> _Region:
    found = _regions.get(name)
    if found is None:
        data = PhoneMetadata.metadata_for_region(name)
        assert data is not None, name
        mobile = () if data.same_mobile_and_fixed_line_pattern else (data.mobile,)
        # The usual numbers' types first: a match of any type makes a number valid.
        kinds = [
            *(data.fixed_line, *mobile, data.premium_rate, data.toll_free, data.shared_cost),
            *(data.voip, data.personal_number, data.pager, data.uan, data.voicemail),
        ]
        found = _regions[name] = _Region(
            data,
            str(data.country_code),
            COUNTRY_CODE_TO_REGION_CODE.get(data.country_code or 0, ()),
            re.compile(data.international_prefix).match if data.international_prefix else None,
            re.compile(data.leading_digits).match if data.leading_digits else None,
            _desc(data.general_desc),
            tuple(desc for desc in map(_desc, kinds) if desc is not None),
        )
    return found


def plain_e164(text: str, region: str | None) -> str | None:
    """`text` (stripped, '00' already read as '+') in E.164 as `phonenumbers` reads and
    validates it in `region` (upper case, a supported region); None when the text is
    not plain digits, or the library would take a branch not taken here, or the
    number is not valid (the caller asks the library, for its error)."""
    if len(text) > _MAX_INPUT or _PLAIN.fullmatch(text) is None:
        return None
    digits = text.replace(" ", "")
    if digits[0] == "+":
        digits = digits[1:]
        if len(digits) <= _MIN_NSN:
            return None
        code, national = _extract_country_code(digits)
        names = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
        if not names or names[0] == _NON_GEOGRAPHIC:
            return None
        rules = _region(names[0])
    else:
        if region is None or len(digits) < 3:  # fewer digits: not viable for parse
            return None
        rules = _region(region)
        if (rules.idd is not None and rules.idd(digits)) or digits.startswith(rules.code):
            return None
        national = digits
        names = rules.names
    if len(national) < _MIN_NSN:
        return None
    _, stripped, _ = _maybe_strip_national_prefix_carrier_code(national, rules.metadata)
    if _test_number_length(stripped, rules.metadata) not in _KEEP_PREFIX:
        national = stripped
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    return f"+{rules.code}{national}" if _valid(names, national) else None


def _valid(names: tuple[str, ...], national: str) -> bool:
    """`is_valid_number`: in the code's one region, or (a code shared by regions) in
    the first whose leading digits match, else the first where it is valid."""
    if len(names) == 1:
        return _region(names[0]).valid(national)
    for name in names:
        rules = _region(name)
        if rules.leading is not None:
            if rules.leading(national):
                return rules.valid(national)
        elif rules.valid(national):
            return True
    return False


__all__ = ["plain_e164"]
