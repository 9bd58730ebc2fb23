"""The forms a value of an event's data (or a customer attribute) is written in.

    total: 39.9                                     # as written (a list is an array)
    channel: {choose: {online: 3, store: 1}}        # one of them, by weight
    score: {between: [1, 5]}                        # a number in the range
    birthday: {date: [1960-01-01, 2004-12-31], leap_day: 0.02}   # a calendar date
    starts_at: {in: 9d..20d, at: "18:00"}           # a moment after the event occurs
    ends_at: {in: 2h, of: starts_at}                # ... or after another field's moment
    phone_model: {p: 0.7, value: {choose: [a, b]}}  # given by 7 in 10, left out otherwise

A form is told by its key (`choose`, `between`, `date`, `in`, `p`), so that an error
names that form only.
"""

from __future__ import annotations

import calendar
import string
from datetime import date, timedelta
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_validator,
)

from journeys.types import LocalTime, parse_duration

Scalar = str | int | float | bool
# An array's items: values, or flat objects (a cart's line items: name, quantity, price).
Item = Scalar | dict[str, Scalar]
Share = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
FieldName = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]*$", max_length=64)]
PLACEHOLDERS = ("customer", "n")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _parse_range(value: Any) -> tuple[timedelta, timedelta]:
    if isinstance(value, tuple):
        return value
    if not isinstance(value, str):
        raise ValueError(f"a delay is written '3d' or '2d..5d', not {value!r}")
    low, sep, high = value.partition("..")
    first = parse_duration(low)
    last = parse_duration(high) if sep else first
    if first <= timedelta(0):
        raise ValueError(
            "a delay must be longer than zero: an event cannot follow its cause at once"
        )
    if last < first:
        raise ValueError(f"'{value}': the range ends before it starts")
    return first, last


DelayRange = Annotated[tuple[timedelta, timedelta], BeforeValidator(_parse_range)]


class Choose(_Model):
    """One of the values: evenly from a list, or by weight from a mapping."""

    choose: Annotated[list[Scalar], Field(min_length=1)] | dict[Scalar, Share]

    def options(self) -> list[Scalar]:
        return list(self.choose)

    @field_validator("choose")
    @classmethod
    def _some(cls, value: Any) -> Any:
        if isinstance(value, dict) and not value:
            raise ValueError("choose needs at least one value")
        return value


class Between(_Model):
    """A number drawn evenly from [low, high]; whole numbers when both ends are."""

    between: tuple[
        Annotated[float | int, Field(allow_inf_nan=False)],
        Annotated[float | int, Field(allow_inf_nan=False)],
    ]

    @field_validator("between")
    @classmethod
    def _ordered(cls, value: tuple[float, float]) -> tuple[float, float]:
        if value[0] > value[1]:
            raise ValueError(f"the low end {value[0]} is above the high end {value[1]}")
        return value


def leap_years(low: date, high: date) -> list[int]:
    """The years whose 29 February lies in [low, high]."""
    years = range(low.year, high.year + 1)
    return [y for y in years if calendar.isleap(y) and low <= date(y, 2, 29) <= high]


class DateRange(_Model):
    """A calendar date drawn evenly from [first, last] (ISO text, e.g. 1990-05-14).

    `leap_day` is the share drawn on 29 February of a leap year in the range: an even
    draw gives about 1 in 1,461, too few to see what a birthday journey does with it."""

    date: tuple[date, date]
    leap_day: Probability = 0.0

    @model_validator(mode="after")
    def _ordered(self) -> DateRange:
        first, last = self.date
        if first > last:
            raise ValueError(f"the first date {first} is after the last {last}")
        if self.leap_day > 0 and not leap_years(first, last):
            raise ValueError(f"no 29 February lies between {first} and {last}")
        return self


class Moment(_Model):
    """A moment (ISO 8601, in the customer's time zone) `in` after the event occurs, or
    after the moment in the field `of` of the same event's data (drawn or kept before
    it); `at` sets the time of day of the moment's date (an evening event at 18:00)."""

    delay: DelayRange = Field(alias="in")
    of: FieldName | None = None
    at: LocalTime | None = None


def _form(value: Any) -> str:
    """Which form a data value is written in (so that an error names that form only)."""
    if isinstance(value, dict):
        for key, form in _KEYS.items():
            if key in value:
                return form
        return "choose-form"
    if isinstance(value, BaseModel):
        return _FORMS.get(type(value).__name__, "scalar-form")
    return "list-form" if isinstance(value, list) else "scalar-form"


_KEYS = {
    "between": "between-form",
    "date": "date-form",
    "in": "moment-form",
    "p": "maybe-form",
    "value": "maybe-form",
}
_FORMS = {
    "Choose": "choose-form",
    "Between": "between-form",
    "DateRange": "date-form",
    "Moment": "moment-form",
    "Maybe": "maybe-form",
}

Value = Annotated[
    Annotated[Choose, Tag("choose-form")]
    | Annotated[Between, Tag("between-form")]
    | Annotated[DateRange, Tag("date-form")]
    | Annotated[Moment, Tag("moment-form")]
    | Annotated[list[Item], Tag("list-form")]
    | Annotated[Scalar, Tag("scalar-form")],
    Discriminator(_form),
]


def _not_maybe(value: Any) -> Any:
    if _form(value) == "maybe-form":
        raise ValueError("a value given only sometimes cannot hold another one; join the p's")
    return value


class Maybe(_Model):
    """`value` with probability `p`; otherwise the field is left out of the data."""

    p: Probability
    value: Annotated[Value, BeforeValidator(_not_maybe)]


DataValue = Annotated[
    Annotated[Choose, Tag("choose-form")]
    | Annotated[Between, Tag("between-form")]
    | Annotated[DateRange, Tag("date-form")]
    | Annotated[Moment, Tag("moment-form")]
    | Annotated[Maybe, Tag("maybe-form")]
    | Annotated[list[Item], Tag("list-form")]
    | Annotated[Scalar, Tag("scalar-form")],
    Discriminator(_form),
]
Data = dict[str, DataValue]


def check_text(value: Any) -> Any:
    """A text's placeholders are only {customer} and {n}: found now, not mid-run."""
    if isinstance(value, str):
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as exc:
            raise ValueError(f"{value!r}: {exc}; write {{{{ for a literal brace") from None
        unknown = [n for n in names if n not in PLACEHOLDERS]
        if unknown:
            raise ValueError(
                f"{value!r} names {{{unknown[0]}}}; a text may name {{customer}} and {{n}}"
            )
    return value


def texts(value: Any) -> list[Any]:
    """The written values a data value can produce (its texts are checked once)."""
    if isinstance(value, Maybe):
        return texts(value.value)
    if isinstance(value, Choose):
        return value.options()
    return [value]


def check_data(data: Data) -> Data:
    """Every text's placeholders, checked while reading."""
    for value in data.values():
        for option in texts(value):
            check_text(option)
    return data
