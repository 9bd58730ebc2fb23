"""The people API's profile rules for many rows: `check_profile`, `parse_profile` without
a model per row.

`parse_profile` validates through `CustomerProfile`, a pydantic model: right for a
request, a fifth of the time of a bulk import's row. `check_profile` takes the usual
row (every value a plain string, attributes a JSON object) through plain checks that
accept exactly what the model accepts, and hands everything else to `parse_profile`
itself: a refused row's error (field and words) is always the model's own, and what
is accepted is normalised the same way (phone in E.164 read in the row's country,
country upper-cased). A property test holds both paths to the same results.

The phone number is read by `journeys.phone.to_e164` on both paths: there is one
phone rule (its usual numbers read by `journeys.phone_plain`, the library's result
sooner).
"""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from ...phone import InvalidPhoneNumber, to_e164
from ..events import PROFILE_FIELDS, CustomerProfile
from .profile_rules import PROFILE_KEYS, parse_profile

# A checked profile: the profile columns' values in `PROFILE_FIELDS` order (None: not
# given, the stored value stays) and the attributes to merge. Plain values: cheap to
# send from the process that checks rows to the one that writes them.
Profile = tuple[tuple[str | None, ...], dict[str, Any]]
# A row's profile: the fields as given (checked by the store, with what is stored), or
# checked already where the row was read (`check_profile`: the store's rules all the same).
GivenProfile = Mapping[str, Any] | Profile


def profile_of(model: CustomerProfile) -> Profile:
    return tuple(getattr(model, name) for name in PROFILE_FIELDS), dict(model.attributes)


def given_fields(profile: Profile) -> dict[str, str]:
    """The profile columns a checked profile sets."""
    return {name: v for name, v in zip(PROFILE_FIELDS, profile[0], strict=True) if v is not None}


def check_profile(fields: Mapping[str, Any], stored_country: str | None = None) -> Profile:
    """What `parse_profile(fields, stored_country)` gives, as a `Profile`; raises the same
    `ProfileError`."""
    fast = _plain(fields, stored_country)
    return fast if fast is not None else profile_of(parse_profile(fields, stored_country))


# `CustomerProfile`'s constraints as Python sees them. The model's patterns run in
# pydantic's Rust engine, where `\s` and `$` differ from Python's at the edges
# (Unicode spaces, a final newline): these accept a subset (printable ASCII around
# the @ of an address), and whatever they refuse goes to the model.
_EMAIL = re.compile(r"[!-?A-~]+@[!-?A-~]+\.[!-?A-~]+")
_LOCALE = re.compile(r"[a-z]{2}(?:-[A-Z]{2})?")
_MAX = {"email": 320, "first_name": 100, "last_name": 100}
_SURROGATE = re.compile("[\ud800-\udfff]")  # the model refuses them in its strings
_MAX_PHONE = 64
_zones: set[str] = set()  # names ZoneInfo has found: the time zone rule, once per name


def _plain(fields: Mapping[str, Any], stored_country: str | None) -> Profile | None:
    """The profile when every value is plainly valid, else None (let the model decide)."""
    given: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in PROFILE_KEYS:
            return None
        if value is None:
            continue
        if name == "attributes":
            if type(value) is not dict or any(type(key) is not str for key in value):
                return None
            attributes = dict(value)
        elif type(value) is not str:
            return None
        else:
            given[name] = value
    texts = given.values()
    if not all(text.isascii() for text in texts) and any(_SURROGATE.search(t) for t in texts):
        return None
    for name, limit in _MAX.items():
        if name in given and len(given[name]) > limit:
            return None
    email, locale, zone = given.get("email"), given.get("locale"), given.get("timezone")
    if email is not None and _EMAIL.fullmatch(email) is None:
        return None
    if locale is not None and _LOCALE.fullmatch(locale) is None:
        return None
    if zone is not None and not _known_zone(zone):
        return None
    country = given.get("country")
    if country is not None:
        if len(country) != 2 or not (country.isascii() and country.isalpha()):
            return None
        given["country"] = country = country.upper()
    phone = given.get("phone")
    if phone is not None:
        if len(phone) > _MAX_PHONE:
            return None
        try:
            given["phone"] = to_e164(phone, country or stored_country)
        except InvalidPhoneNumber:
            return None
    return tuple(map(given.get, PROFILE_FIELDS)), attributes


def _known_zone(name: str) -> bool:
    if name in _zones:
        return True
    if len(name) > 64:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except Exception:  # whatever it is, the model's own check names it
        return False
    if len(_zones) < 1024:
        _zones.add(name)
    return True


__all__ = ["GivenProfile", "Profile", "check_profile", "given_fields", "profile_of"]
