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
    survey: str  # add ?score=N for a one-click answer (the survey_scale macro does)
    confirm: str  # double opt-in: confirms a newsletter subscription
    view: str  # the message as a web page ("view in browser")


class BrandContext(TypedDict):
    """How the company shows itself: the name customers know and its logo."""

    name: str  # the wordmark in the header and the name in the sign-off
    logo_url: str | None  # an https:// image; without one the header shows the name
    logo_alt: str  # the logo's alternative text (default: the brand name)
    logo_width: int  # the size the logo is shown at, in CSS pixels
    logo_height: int


class CompanyContext(TypedDict):
    """The legal entity behind the messages: what the footer must say (§ 35a GmbHG)."""

    name: str  # the legal name with its legal form, e.g. 'Beispielhandel GmbH'
    address: str  # postal address: required in the footer of every marketing email
    website: str
    support_email: str
    registered_office: str | None  # Sitz der Gesellschaft
    register_court: str | None  # e.g. 'Amtsgericht Berlin-Charlottenburg'
    register_number: str | None  # e.g. 'HRB 123456 B'
    managing_directors: str | None  # every one of them, e.g. 'Erika Muster, Jan Beispiel'
    vat_id: str | None  # Umsatzsteuer-Identifikationsnummer, shown where set
    privacy_url: str | None  # the privacy policy
    imprint_url: str | None  # the Impressum (legal notice)


# Where each company and brand setting comes from (channels/render_settings.py reads them).
COMPANY_SETTINGS: dict[str, str] = {
    "name": "JOURNEYFLOW_COMPANY_NAME",
    "address": "JOURNEYFLOW_COMPANY_ADDRESS",
    "website": "JOURNEYFLOW_COMPANY_WEBSITE",
    "support_email": "JOURNEYFLOW_SUPPORT_EMAIL",
    "registered_office": "JOURNEYFLOW_COMPANY_REGISTERED_OFFICE",
    "register_court": "JOURNEYFLOW_COMPANY_REGISTER_COURT",
    "register_number": "JOURNEYFLOW_COMPANY_REGISTER_NUMBER",
    "managing_directors": "JOURNEYFLOW_COMPANY_MANAGING_DIRECTORS",
    "vat_id": "JOURNEYFLOW_COMPANY_VAT_ID",
    "privacy_url": "JOURNEYFLOW_PRIVACY_URL",
    "imprint_url": "JOURNEYFLOW_IMPRINT_URL",
}
BRAND_SETTINGS: dict[str, str] = {
    "name": "JOURNEYFLOW_BRAND_NAME",
    "logo_url": "JOURNEYFLOW_BRAND_LOGO_URL",
    "logo_alt": "JOURNEYFLOW_BRAND_LOGO_ALT",
    "logo_width": "JOURNEYFLOW_BRAND_LOGO_WIDTH",
    "logo_height": "JOURNEYFLOW_BRAND_LOGO_HEIGHT",
}
# The example company of the shipped journeys, complete: what the demo and previews show.
EXAMPLE_COMPANY = CompanyContext(
    name="Beispielhandel GmbH",
    address="Musterstraße 1, 10115 Berlin",
    website="https://www.beispielhandel.de",
    support_email="service@beispielhandel.de",
    registered_office="Berlin",
    register_court="Amtsgericht Berlin-Charlottenburg",
    register_number="HRB 123456 B",
    managing_directors="Erika Mustermann, Jan Beispiel",
    vat_id="DE123456789",
    privacy_url="https://www.beispielhandel.de/datenschutz",
    imprint_url="https://www.beispielhandel.de/impressum",
)
EXAMPLE_BRAND = BrandContext(
    name="Beispielhandel", logo_url=None, logo_alt="Beispielhandel", logo_width=160, logo_height=40
)


class RenderContext(TypedDict):
    customer: CustomerContext
    event: dict[str, Any]  # type, occurred_at, data, plus the data's keys at the top level
    stage: StageContext
    journey: JourneyContext
    promo_code: NotRequired[PromoCodeContext]  # only when the action declares a promo code
    links: LinksContext
    company: CompanyContext
    brand: BrandContext
    variant: str | None
    now: datetime


_FIXED: dict[str, Any] = {
    "customer": CustomerContext,
    "stage": StageContext,
    "journey": JourneyContext,
    "promo_code": PromoCodeContext,
    "links": LinksContext,
    "company": CompanyContext,
    "brand": BrandContext,
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
    site = EXAMPLE_COMPANY["website"]
    data: dict[str, Any] = {
        "order_id": "100234",
        "product_name": "Laptop Aero 14",
        "category": "laptops",
    }
    # The shape of order.completed in the shipped tracking plan: line items, total, link.
    data |= {"total": 1238.57, "currency": "EUR", "channel": "online", "store": "Berlin-Mitte"}
    data["items"] = [
        {"name": "Laptop Aero 14", "quantity": 1, "price": 1099.00},
        {"name": "USB-C Dock" if not de else "USB-C-Dockingstation", "quantity": 1, "price": 89.99},
        {"name": "Notebook-Tasche" if de else "Laptop sleeve", "quantity": 2, "price": 24.79},
    ]
    data["url"] = f"{site}/konto/bestellungen/100234"
    data |= {"rating": 5, "score": 9, "ticket_id": "T-4711"}
    # Shaped like real links (/l/<purpose>.<ref>.<expiry>.<signature>): '?score=N' appends.
    token = "f3a2c1d9b8e7a6c5d4e3f2a1b0c9d8e7.67f0c2a0.Tb9aX0c51K"
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
        "links": {k: f"{site}/l/{k}.{token}" for k in sorted(CONTEXT_SPEC["links"] or ())},
        "company": {
            **EXAMPLE_COMPANY,
            "address": EXAMPLE_COMPANY["address"] + ("" if de else ", Germany"),
        },
        "brand": dict(EXAMPLE_BRAND),
        "variant": None,
        "now": now,
    }
    ctx["event"]["data"] = data
    if promo_code:
        # A code as journeys.promo draws it, with the prefix of the recipient's language.
        prefix = "DANKE" if de else "THANKS"
        ctx["promo_code"] = {"code": f"{prefix}-7K9M-X3HT-4FNP-WC6R", "discount": "10%"}
        ctx["promo_code"]["expires_at"] = now + timedelta(days=30)
    return ctx
