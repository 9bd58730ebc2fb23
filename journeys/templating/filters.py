"""Locale-aware Jinja2 filters: dates, money, numbers, percentages, discounts (babel)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from jinja2 import pass_context
from jinja2.runtime import Context

from ..types import LOCALE_PATTERN

_LOCALE_RE = re.compile(LOCALE_PATTERN)
_FREE_SHIPPING = {"de": "kostenlosen Versand", "en": "free shipping"}
_OFF = {"de": "{} Rabatt", "en": "{} off"}


def _locale_of(ctx: Context, explicit: str | None = None) -> str:
    """The explicit locale, else the customer's if it speaks the template's language, else that."""
    if explicit:
        return explicit
    folder = (ctx.name or "").split("/", 1)[0]
    customer = ctx.get("customer")
    own = customer.get("locale") if isinstance(customer, Mapping) else None
    if own and (not _LOCALE_RE.match(folder) or own.split("-")[0] == folder.split("-")[0]):
        return str(own)
    return folder if _LOCALE_RE.match(folder) else "en"


def _babel_locale(ctx: Context, explicit: str | None) -> str:
    return _locale_of(ctx, explicit).replace("-", "_")


@pass_context
def _number(
    ctx: Context, value: float, digits: int | None = None, locale: str | None = None
) -> str:
    fmt = None if digits is None else "#,##0." + "0" * digits if digits else "#,##0"
    return str(babel_numbers.format_decimal(value, format=fmt, locale=_babel_locale(ctx, locale)))


@pass_context
def _money(ctx: Context, amount: float, currency: str = "EUR", locale: str | None = None) -> str:
    return str(babel_numbers.format_currency(amount, currency, locale=_babel_locale(ctx, locale)))


@pass_context
def _percent(ctx: Context, ratio: float, locale: str | None = None) -> str:
    """0.1 -> '10 %' (de), '10%' (en)."""
    return str(babel_numbers.format_percent(ratio, locale=_babel_locale(ctx, locale)))


@pass_context
def _date(
    ctx: Context, value: date | str, format: str = "medium", locale: str | None = None
) -> str:
    """A date, or a datetime's date in the customer's time zone; short/medium/long/full."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    customer = ctx.get("customer")
    tz = customer.get("timezone") if isinstance(customer, Mapping) else None
    if isinstance(value, datetime):
        value = (value.astimezone(ZoneInfo(tz)) if tz and value.tzinfo else value).date()
    return str(babel_dates.format_date(value, format=format, locale=_babel_locale(ctx, locale)))


@pass_context
def _datetime(
    ctx: Context, value: datetime | str, format: str = "medium", locale: str | None = None
) -> str:
    """A date and time on the customer's clock (their time zone): '14.05.2026, 18:00'."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    customer = ctx.get("customer")
    tz = customer.get("timezone") if isinstance(customer, Mapping) else None
    zone = ZoneInfo(tz) if isinstance(tz, str) and tz else None
    if value.tzinfo is not None and zone is not None:
        value = value.astimezone(zone)
    loc = _babel_locale(ctx, locale)
    day = babel_dates.format_date(value.date(), format=format, locale=loc)
    clock = babel_dates.format_time(value.time(), format="short", locale=loc)
    return f"{day}, {clock}"


@pass_context
def _discount(ctx: Context, spec: str, locale: str | None = None) -> str:
    """A promo code's benefit as a phrase: '10 % Rabatt', '5,00 € Rabatt', 'free shipping'."""
    loc = _locale_of(ctx, locale)
    lang = loc.split("-")[0] if loc.split("-")[0] in _OFF else "en"
    if spec == "free_shipping":
        return _FREE_SHIPPING[lang]
    if spec.endswith("%"):
        return _OFF[lang].format(_percent(ctx, float(spec[:-1]) / 100, loc))
    amount, _, currency = spec.partition(" ")
    return _OFF[lang].format(_money(ctx, float(amount), currency or "EUR", loc))


FILTERS: dict[str, Callable[..., str]] = {
    "date": _date,
    "datetime": _datetime,
    "money": _money,
    "number": _number,
    "percent": _percent,
    "discount": _discount,
}
