"""The render context of one claimed action, and the locale its message is written in."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from journeys.model import Journey
from journeys.store.outbox.claims import ClaimedAction
from journeys.templating import find_template, template_name
from journeys.templating.context import (
    BrandContext,
    CompanyContext,
    CustomerContext,
    JourneyContext,
    LinksContext,
    PromoCodeContext,
    RenderContext,
    StageContext,
)
from journeys.types import LOCALE_PATTERN

_LOCALE_RE = re.compile(LOCALE_PATTERN)


class PromoCodeLike(Protocol):
    """A promo code issued for the action (the store's row or any object like it)."""

    @property
    def code(self) -> str: ...

    @property
    def discount(self) -> str: ...

    @property
    def expires_at(self) -> datetime: ...


class Choice(NamedTuple):
    locale: str  # the message's locale, e.g. 'de-AT' (its templates may come from 'de')
    name: str  # the loader name of the template, e.g. 'de-AT/thank_you.email.j2'


def normalise_locale(raw: str | None) -> str | None:
    """'de_at' or 'DE-AT' -> 'de-AT'; None when it is no locale at all."""
    if not raw:
        return None
    language, _, region = raw.strip().replace("_", "-").partition("-")
    locale = f"{language.lower()}-{region.upper()}" if region else language.lower()
    return locale if _LOCALE_RE.match(locale) else None


def choose_template(
    templates_dir: Path, journey: Journey, customer_locale: str | None, template: str, channel: str
) -> Choice | None:
    """The customer's locale when there is a template for it (de-AT falls back to de),
    else the journey's default locale; None when neither has the template."""
    for locale in (normalise_locale(customer_locale), journey.locale):
        # The locale was checked against the pattern: no path can leave the folder.
        if locale and find_template(templates_dir, locale, template, channel) is not None:
            return Choice(locale, template_name(locale, template, channel))
    return None


def _localised(text: str | dict[str, str] | None, locale: str, default: str) -> str:
    if isinstance(text, dict):
        language = locale.split("-")[0]
        return text.get(locale) or text.get(language) or next(iter(text.values()), default)
    return text or default


def stage_context(journey: Journey, stage: str, locale: str) -> StageContext:
    found = journey.stage_map.get(stage)
    title = found.title if found is not None else None
    return StageContext(key=stage, title=_localised(title, locale, stage))


def journey_context(journey: Journey, locale: str) -> JourneyContext:
    name = _localised(journey.name, locale, journey.journey)
    return JourneyContext(key=journey.journey, name=name, version=journey.version)


def customer_context(action: ClaimedAction, locale: str, timezone: str) -> CustomerContext:
    c = action.customer
    name = " ".join(part for part in (c.first_name, c.last_name) if part)
    return CustomerContext(
        id=c.external_id,
        first_name=c.first_name,
        last_name=c.last_name,
        name=name,
        email=c.email,
        phone=c.phone,
        locale=normalise_locale(c.locale) or locale,
        timezone=c.timezone or timezone,
        country=c.country,
        attributes=dict(c.attributes),
    )


def build_context(
    action: ClaimedAction,
    journey: Journey,
    locale: str,
    *,
    promo: PromoCodeLike | None,
    links: LinksContext,
    company: CompanyContext,
    brand: BrandContext,
    now: datetime,
) -> RenderContext:
    # Templates test `event.data.x is defined`: `data` must exist even without an event.
    event: dict[str, Any] = dict(action.event) if action.event is not None else {"data": {}}
    context = RenderContext(
        customer=customer_context(action, locale, journey.settings.timezone),
        event=event,
        stage=stage_context(journey, action.stage, locale),
        journey=journey_context(journey, locale),
        links=links,
        company=company,
        brand=brand,
        variant=action.variant,
        now=now,
    )
    if promo is not None:
        context["promo_code"] = PromoCodeContext(
            code=promo.code, discount=promo.discount, expires_at=promo.expires_at
        )
    return context
