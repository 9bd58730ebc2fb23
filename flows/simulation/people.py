"""A simulated customer when they first appear: persona, profile, attributes, consent.

Drawn from the customer's own random stream, so one customer's draws never depend on
another's. Names come from a small list per language; phone numbers are valid mobile
numbers of the customer's country (built from `phonenumbers`' example number), so
that the SMS channel reads them as production would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers

from journeys.store.people.importing import ConsentRow

from .model import ConsentMix, Profile
from .model_data import Between, Choose, Data, DateRange, Maybe, Moment, leap_years

_FIRST = {
    "de": ["Max", "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lea", "Paul", "Mia"],
    "en": ["Oliver", "Emma", "Jack", "Olivia", "Harry", "Amelia", "George", "Isla"],
}
_LAST = {
    "de": ["Mustermann", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"],
    "en": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson"],
}
_ASCII = str.maketrans({"ü": "ue", "ö": "oe", "ä": "ae", "ß": "ss"})
CONSENT_SOURCE = "simulation"


@dataclass(frozen=True, slots=True)
class Newcomer:
    """What the store learns when a customer first appears: profile and consent."""

    external_id: str
    fields: dict[str, Any]
    consent: tuple[ConsentRow, ...]


def weighted(rng: random.Random, mix: dict[Any, float]) -> Any:
    options = list(mix)
    return options[0] if len(options) == 1 else rng.choices(options, list(mix.values()))[0]


@dataclass(frozen=True, slots=True)
class Drawing:
    """What a value is drawn for: the customer, the event's number for them, and when
    it occurs (in the customer's time zone: a moment `at` 18:00 is their evening)."""

    customer: str
    n: int
    at: datetime


_LEFT_OUT = object()


def draw_value(rng: random.Random, value: Any, ctx: Drawing, data: dict[str, Any]) -> Any:
    """One value of a data spec (`data`: the event's data drawn so far, for `of`)."""
    if isinstance(value, Choose):
        choose = value.choose
        picked = weighted(rng, choose) if isinstance(choose, dict) else rng.choice(choose)
        return draw_value(rng, picked, ctx, data)
    if isinstance(value, Between):
        low, high = value.between
        if type(low) is int and type(high) is int:
            return rng.randint(low, high)
        return round(rng.uniform(low, high), 2)
    if isinstance(value, Maybe):
        return draw_value(rng, value.value, ctx, data) if rng.random() < value.p else _LEFT_OUT
    if isinstance(value, DateRange):
        return _date(rng, value).isoformat()
    if isinstance(value, Moment):
        return _moment(rng, value, ctx, data)
    if isinstance(value, str) and "{" in value:
        return value.format(customer=ctx.customer, n=ctx.n)
    if isinstance(value, list):
        return [dict(item) if isinstance(item, dict) else item for item in value]
    return value


def draw_data(
    rng: random.Random, data: Data, ctx: Drawing, kept: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The event's data: the fields kept from its cause, then the drawn ones in order
    (a drawn field replaces a kept one: a moved event's new date)."""
    out = {} if kept is None else kept
    for name, spec in data.items():
        value = draw_value(rng, spec, ctx, out)
        if value is not _LEFT_OUT:
            out[name] = value
    return out


def read_moment(value: Any) -> datetime | None:
    """A moment of an event's data (ISO 8601 text with its offset), or None."""
    if not isinstance(value, str):
        return None
    try:
        found = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return found if found.tzinfo is not None else None


def _moment(rng: random.Random, value: Moment, ctx: Drawing, data: dict[str, Any]) -> Any:
    base = ctx.at if value.of is None else read_moment(data.get(value.of))
    if base is None:
        return _LEFT_OUT  # the moment it counts from is not in this event's data
    low, high = value.delay
    # Elapsed time, as a rule's delay is: across a change of the clocks a moment `in`
    # 7d of 18:00 is 17:00 or 19:00; `at` sets the local time where that matters.
    delay = timedelta(seconds=rng.uniform(low.total_seconds(), high.total_seconds()))
    found = (base.astimezone(UTC) + delay).astimezone(ctx.at.tzinfo)
    if value.at is not None:
        found = found.replace(hour=value.at.hour, minute=value.at.minute)
    return found.replace(second=0, microsecond=0).isoformat()


def _date(rng: random.Random, value: DateRange) -> date:
    first, last = value.date
    if value.leap_day and rng.random() < value.leap_day:
        return date(rng.choice(leap_years(first, last)), 2, 29)
    return first + timedelta(days=rng.randint(0, (last - first).days))


def newcomer(
    rng: random.Random,
    external_id: str,
    number: int,
    profile: Profile,
    attributes: Data,
    consent: ConsentMix,
    at: datetime,
) -> Newcomer:
    """A customer's profile fields and the consent on record when they first appear."""
    lang = profile.locale.split("-")[0]
    zone = ZoneInfo(profile.timezone)
    first = rng.choice(_FIRST.get(lang, _FIRST["en"]))
    last = rng.choice(_LAST.get(lang, _LAST["en"]))
    fields: dict[str, Any] = {
        "email": f"{first}.{last}.{number}@example.org".lower().translate(_ASCII),
        "first_name": first,
        "last_name": last,
        "locale": profile.locale,
        "timezone": profile.timezone,
        "country": profile.country,
        "attributes": draw_data(rng, attributes, Drawing(external_id, 0, at.astimezone(zone))),
    }
    phone = mobile_number(profile.country, number) if rng.random() < profile.phone else ""
    if phone:
        fields["phone"] = phone
    # Recorded before they first appear, as a shop holds it (a month or so earlier).
    given = at - timedelta(days=30 + rng.randint(0, 300), minutes=rng.randint(0, 1439))
    rows = []
    for channel, mix in (("email", consent.email), ("sms", consent.sms)):
        status = weighted(rng, mix)
        if status != "none":
            rows.append(ConsentRow(external_id, channel, status, CONSENT_SOURCE, given))
    return Newcomer(external_id, fields, tuple(rows))


def consent_change(external_id: str, channel: str, status: str, at: datetime) -> ConsentRow:
    """A change that comes with an event: a confirmation link clicked is the double
    opt-in's confirmation, as the link page records it."""
    return ConsentRow(external_id, channel, status, CONSENT_SOURCE, at, confirmed=True)


def mobile_number(country: str, number: int) -> str:
    """A valid mobile number of the country (E.164), different per customer number."""
    base = _example(country)
    if base is None:
        return ""
    national = str(base.national_number)
    tail = str(number % 10**5).zfill(5)
    candidate = phonenumbers.PhoneNumber(
        country_code=base.country_code, national_number=int(national[:-5] + tail)
    )
    chosen = candidate if phonenumbers.is_valid_number(candidate) else base
    return phonenumbers.format_number(chosen, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=256)
def _example(country: str) -> phonenumbers.PhoneNumber | None:
    return phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
