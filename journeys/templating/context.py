"""The render context: what a template may read, typed and documented."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NotRequired, TypedDict

# --- the render context ---------------------------------------------------------------------


class CustomerContext(TypedDict):
    id: str
    first_name: str | None
    last_name: str | None
    name: str
    email: str | None
    phone: str | None  # E.164
    locale: str
    timezone: str
    country: str | None
    attributes: dict[str, Any]  # free: whatever the CRM sends


class StageContext(TypedDict):
    key: str
    title: str  # in the message's locale


class JourneyContext(TypedDict):
    key: str
    name: str
    version: int


class PromoCodeContext(TypedDict):
    code: str
    discount: str  # as declared: '10%', '5 EUR', 'free_shipping'; format with |discount
    expires_at: datetime


class LinksContext(TypedDict):
    """Signed, per-customer URLs the channels produce at send time."""

    unsubscribe: str
    preferences: str
    review: str
    survey: str
    confirm: str  # double opt-in: confirms a newsletter subscription


class CompanyContext(TypedDict):
    name: str
    address: str  # postal address: required in the footer of every marketing email
    website: str
    support_email: str


class RenderContext(TypedDict):
    customer: CustomerContext
    event: dict[str, Any]  # type, occurred_at, data, plus the data's keys at the top level
    stage: StageContext
    journey: JourneyContext
    promo_code: NotRequired[PromoCodeContext]  # only when the action declares a promo code
    links: LinksContext
    company: CompanyContext
    variant: str | None
    now: datetime


_FIXED: dict[str, Any] = {
    "customer": CustomerContext,
    "stage": StageContext,
    "journey": JourneyContext,
    "promo_code": PromoCodeContext,
    "links": LinksContext,
    "company": CompanyContext,
}
# Root -> attribute names a template may read; None: free mapping or a plain value.
CONTEXT_SPEC: dict[str, set[str] | None] = {
    root: set(_FIXED[root].__annotations__) if root in _FIXED else None
    for root in RenderContext.__annotations__
}


def sample_context(
    locale: str = "de", *, promo_code: bool = True, now: datetime | None = None
) -> dict[str, Any]:
    """A realistic context for previews and tests; German values unless locale is English."""
    de = not locale.startswith("en")
    now = now or datetime(2025, 3, 14, 8, 30, tzinfo=UTC)
    first, last = ("Max", "Mustermann") if de else ("Emma", "Johnson")
    data: dict[str, Any] = {
        "order_id": "100234",
        "product_name": "Laptop Aero 14",
        "category": "laptops",
    }
    data |= {"total": 1234.56, "currency": "EUR", "channel": "online", "store": "Berlin-Mitte"}
    data |= {"rating": 5, "score": 9, "ticket_id": "T-4711"}
    site = "https://www.beispielhandel.de"
    sig = "?t=8f3a2c1d9b&sig=4b7e9a0c51"
    ctx: dict[str, Any] = {
        "customer": {
            "id": "c-100234",
            "first_name": first,
            "last_name": last,
            "name": f"{first} {last}",
            "email": f"{first}.{last}@example.com".lower(),
            "phone": "+491701234567" if de else "+447700900123",
            "locale": locale,
            "timezone": "Europe/Berlin" if de else "Europe/London",
            "country": "DE" if de else "GB",
            "attributes": {"segment": "regular", "interest": "laptops", "orders_count": 3},
        },
        "event": {"type": "order.delivered", "occurred_at": now - timedelta(days=3), **data},
        "stage": {"key": "evaluation", "title": "Bewertung" if de else "Evaluation"},
        "journey": {
            "key": "customer_lifecycle",
            "name": "Kundenlebenszyklus" if de else "Customer lifecycle",
            "version": 1,
        },
        "links": {k: f"{site}/m/{k}{sig}" for k in sorted(CONTEXT_SPEC["links"] or ())},
        "company": {
            "name": "Beispielhandel GmbH",
            "address": "Musterstraße 1, 10115 Berlin" + ("" if de else ", Germany"),
            "website": site,
            "support_email": "service@beispielhandel.de",
        },
        "variant": None,
        "now": now,
    }
    ctx["event"]["data"] = data
    if promo_code:
        ctx["promo_code"] = {"code": "DANKE-7KQ2M9", "discount": "10%"}
        ctx["promo_code"]["expires_at"] = now + timedelta(days=30)
    return ctx
