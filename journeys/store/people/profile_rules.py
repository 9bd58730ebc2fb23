"""The rules of a profile, free of the store: what a field may hold, checked the same
way by the people API, the event ingest and an import's checking workers (which load
this without the database layer)."""

from __future__ import annotations

import re
import zoneinfo
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from ...errors import StoreError, did_you_mean
from ...phone import InvalidPhoneNumber, to_e164
from ..events import PROFILE_FIELDS, CustomerProfile
from .import_rows import Refused

# What consent is for. The send rules read one consent per channel: for marketing
# (transactional messages need none), so that is the one purpose there is.
CONSENT_PURPOSES = ("marketing",)
PROFILE_KEYS = (*PROFILE_FIELDS, "attributes")


class ProfileError(StoreError):
    """A profile or consent field is invalid; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(f"{field}: {message}")


def refusal(exc: ProfileError) -> Refused:
    """A profile error as the rejects file names it: the field, then why."""
    return Refused(exc.field, str(exc).removeprefix(f"{exc.field}: "))


def parse_profile(fields: Mapping[str, Any], stored_country: str | None = None) -> CustomerProfile:
    """Validate profile fields; a `ProfileError` names the first bad one."""
    unknown = sorted(str(k) for k in fields if k not in PROFILE_KEYS)
    if unknown:
        raise ProfileError(
            unknown[0], f"not a profile field{did_you_mean(unknown[0], PROFILE_KEYS)}"
        )
    given = {k: v for k, v in fields.items() if v is not None}
    phone = given.pop("phone", None)
    try:
        profile = CustomerProfile.model_validate(given)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "customer"
        raise ProfileError(where, first["msg"]) from None
    if profile.timezone is not None:
        check_zone(profile.timezone)
    if phone is None:
        return profile
    if not isinstance(phone, str) or len(phone) > 64:
        raise ProfileError("phone", "a phone number is a string of at most 64 characters")
    try:
        e164 = to_e164(phone, profile.country or stored_country)
    except InvalidPhoneNumber as exc:
        raise ProfileError("phone", str(exc)) from None
    return profile.model_copy(update={"phone": e164})


_CONTROL = re.compile("[\x00-\x1f\x7f]")


def check_customer_id(external_id: object) -> None:
    if not isinstance(external_id, str) or not 1 <= len(external_id) <= 255:
        raise ProfileError("id", "a customer id is 1 to 255 characters")
    if _CONTROL.search(external_id) is not None:
        raise ProfileError("id", "a customer id has no control characters")


def check_zone(name: str) -> None:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):  # 'Europe' is a folder
        raise ProfileError("timezone", f"'{name}' is not an IANA time zone") from None


__all__ = [
    "CONSENT_PURPOSES",
    "PROFILE_KEYS",
    "ProfileError",
    "check_customer_id",
    "check_zone",
    "parse_profile",
    "refusal",
]
