"""Every link page, in each of its states, looked at in headless Chromium as a designer would.

The pages are served by the real receiver over a real store (SQLite: the store does not
change how a page looks) for a German and an English customer, and laid out at 1,280
and 390 px: nothing may overflow, text meets WCAG AA contrast and form borders 3:1, the
brand and the legal links frame every page, and each page says and offers what its
state calls for. Screenshots stay in test-artifacts/visual/pages/.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from receiver_harness import Receiver, serving
from sqlalchemy import Engine, text
from visual_checks import look, problems, scale_problems, see

from channels.inbound import Inbox, create_app, parse_receiver_config
from channels.links import LinkSigner
from flows.headless import Browser
from journeys.config import templates_dir
from journeys.loader import parse_journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.templating import make_environment, render_email, sample_context
from journeys.templating.context import EXAMPLE_BRAND, EXAMPLE_COMPANY

WIDTHS = (1280, 390)
LOCALES = ("de", "en")

JOURNEY = """\
journey: visual
version: 1
name: Visual check
locale: de
locales: [de, en]
stages:
  - key: bought
    enter_when: {event: order.completed}
    on_enter:
      - email: thank_you
        marketing: false
      - email: confirm_subscription
        marketing: false
      - email: review_request
        promo_code: {discount: "10%", prefix: {de: DANKE, en: THANKS}}
      - email: csat_survey
      - email: nps_survey
    final: true
"""
CUSTOMERS = {
    "de": {"email": "max.mustermann@example.org", "phone": "+4915112345678", "locale": "de"},
    "en": {"email": "emma.johnson@example.org", "phone": "+447911123456", "locale": "en"},
}
ORDER = {
    "order_id": "100234",
    "total": 1238.57,
    "currency": "EUR",
    "items": [{"name": "Laptop Aero 14", "quantity": 1, "price": 1238.57}],
    "url": "https://www.beispielhandel.de/konto/bestellungen/100234",
}


def _enrol(engine: Engine) -> dict[tuple[str, str], str]:
    """Both customers bought; the key of each message, by (locale, template)."""
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        registry = JourneyRegistry()
        registry.register(session, [parse_journey(JOURNEY)[0]])
        events = [
            IncomingEvent(
                source="shop",
                external_id=f"order-{locale}",
                type="order.completed",
                customer_id=f"c-{locale}",
                occurred_at=now - timedelta(minutes=5),
                data=ORDER,
                customer=profile,
            )
            for locale, profile in CUSTOMERS.items()
        ]
        apply_events(session, registry, events, now)
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT c.external_id, a.template, a.idempotency_key FROM action_run a "
                "JOIN customer c ON c.id = a.customer_id"
            )
        ).all()
    return {(customer.removeprefix("c-"), template): key for customer, template, key in rows}


class Pages:
    """Every state of every link page, fetched from the running receiver."""

    def __init__(self, service: Receiver, signer: LinkSigner, keys: dict[tuple[str, str], str]):
        self.service, self.signer, self.keys = service, signer, keys
        self.html: dict[tuple[str, str], str] = {}
        self.status: dict[tuple[str, str], int] = {}

    def url(self, purpose: str, locale: str, template: str, days: float = 7) -> str:
        ref = self.keys[locale, template]
        return "/l/" + self.signer.token(purpose, ref, datetime.now(UTC) + timedelta(days=days))

    def get(self, state: str, locale: str, url: str, form: dict[str, str] | None = None) -> None:
        client, headers = self.service.client, {"accept-language": locale}
        if form is not None:
            response = client.post(url, data=form, headers=headers)
        else:
            response = client.get(url, headers=headers)
        self.html[state, locale] = response.text
        self.status[state, locale] = response.status_code

    def fetch_all(self) -> Pages:
        for locale in LOCALES:
            unsubscribe = self.url("unsubscribe", locale, "review_request")
            self.get("unsubscribe", locale, unsubscribe)
            self.get("unsubscribe-done", locale, unsubscribe, {"confirm": "1"})
            self.get("unsubscribe-already", locale, unsubscribe)
            # Before the confirmation: a pending address is offered a new link, once an hour.
            expired = self.url("confirm", locale, "confirm_subscription", days=-1)
            self.get("confirm-expired", locale, expired)
            self.get("confirm-resent", locale, expired, {"resend": "1"})
            self.get("confirm-resent-again", locale, expired, {"resend": "1"})
            confirm = self.url("confirm", locale, "confirm_subscription")
            self.get("confirm", locale, confirm)
            self.get("confirm-done", locale, confirm, {"confirm": "1"})
            self.get("confirm-already", locale, confirm)
            preferences = self.url("preferences", locale, "review_request")
            self.get("preferences", locale, preferences)
            self.get("preferences-saved", locale, preferences, {"sms": "on"})
            nps = self.url("survey", locale, "nps_survey")
            self.get("nps", locale, nps)
            self.get("nps-answered", locale, nps + "?score=9")
            self.get("nps-commented", locale, nps + "?score=9", {"score": "9", "comment": "Gut"})
            csat = self.url("survey", locale, "csat_survey")
            self.get("csat", locale, csat)
            self.get("csat-answered", locale, csat + "?score=2")
            self.get("survey-out-of-range", locale, csat + "?score=11")
            self.get("invalid", locale, f"/l/{'x' * 40}")
            self.get("view-thank-you", locale, self.url("view", locale, "thank_you"))
            self.get("view-review-request", locale, self.url("view", locale, "review_request"))
        return self


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pages]:
    """Every page fetched once for the module: the tests only look at them."""
    engine = create_db_engine(f"sqlite:///{tmp_path_factory.mktemp('visual') / 'store.db'}")
    create_schema(engine)
    keys = _enrol(engine)
    signer = LinkSigner("test-link-secret-0123456789", "http://127.0.0.1:8000")
    stored: list[int] = []
    inbox = Inbox(engine, on_stored=stored.append, clock=lambda: datetime.now(UTC))
    app = create_app(parse_receiver_config({"sources": {}}, {}), inbox, signer=signer)
    with serving(app) as url:
        service = Receiver(url, engine, inbox, stored)
        try:
            yield Pages(service, signer, keys).fetch_all()
        finally:
            service.client.close()
            engine.dispose()


def test_every_link_page_passes_a_designers_review(browser: Browser, pages: Pages) -> None:
    failures = []
    for (state, locale), html in sorted(pages.html.items()):
        for width in WIDTHS:
            found = look(browser, html, width, Path("pages") / f"{state}.{locale}.{width}.png")
            failures += [f"{state} ({locale}) at {width} px: {p}" for p in problems(found)]
            if state.startswith("view-"):
                continue  # the email itself: checked above
            links = [(link["href"], link["text"]) for link in found["links"]]
            imprint, privacy = ("Impressum", "Datenschutz")
            if locale == "en":
                imprint, privacy = "Legal notice", "Privacy policy"
            for href, label in (
                (EXAMPLE_COMPANY["website"], EXAMPLE_BRAND["name"]),
                (EXAMPLE_COMPANY["imprint_url"], imprint),
                (EXAMPLE_COMPANY["privacy_url"], privacy),
            ):
                if (href, label) not in links:
                    failures.append(f"{state} ({locale}) at {width} px: no link {label!r}")
    assert failures == []


def test_the_pages_name_the_address_they_apply_to(pages: Pages) -> None:
    for locale, customer in CUSTOMERS.items():
        for state in ("unsubscribe", "unsubscribe-done", "unsubscribe-already", "preferences"):
            assert customer["email"] in pages.html[state, locale], (state, locale)
        assert customer["phone"] in pages.html["preferences", locale]


def test_an_unsubscribed_address_is_not_asked_again(browser: Browser, pages: Pages) -> None:
    for locale in LOCALES:
        asked = see(browser, pages.html["unsubscribe", locale], 390)
        again = see(browser, pages.html["unsubscribe-already", locale], 390)
        assert asked["forms"] == 1
        assert again["forms"] == 0
        assert ("bereits abgemeldet" if locale == "de" else "already unsubscribed") in again["text"]


def test_the_nps_scale_is_one_row_and_the_chosen_score_shows(
    browser: Browser, pages: Pages
) -> None:
    for locale in LOCALES:
        for width in WIDTHS:
            found = see(browser, pages.html["nps", locale], width)
            assert scale_problems(found, 0, 10, one_row=True) == [], (locale, width)
            found = see(browser, pages.html["nps-answered", locale], width)
            assert scale_problems(found, 0, 10, one_row=True) == [], (locale, width)
            chosen = [s for s in found["scores"] if s["current"]]
            others = {s["background"] for s in found["scores"] if not s["current"]}
            assert [s["text"] for s in chosen] == ["9"]
            assert chosen[0]["background"] not in others  # seen, not only announced
            assert ("Ihre Antwort: 9 von 10" if locale == "de" else "Your answer: 9 out of 10") in (
                found["text"]
            )


def test_an_expired_confirmation_offers_a_new_one_once_an_hour(
    browser: Browser, pages: Pages
) -> None:
    for locale in LOCALES:
        assert pages.status["confirm-expired", locale] == 410
        offer = see(browser, pages.html["confirm-expired", locale], 390)
        assert offer["forms"] == 1
        assert pages.status["confirm-resent", locale] == 202
        assert pages.status["confirm-resent-again", locale] == 429
        assert CUSTOMERS[locale]["email"] in pages.html["confirm-resent", locale]
    copies = pages.service.rows(
        "SELECT c.external_id, a.params FROM action_run a JOIN customer c ON c.id = a.customer_id "
        "WHERE a.template = 'confirm_subscription' ORDER BY c.external_id, a.id"
    )
    # Each customer's original and one copy of it, however often they asked.
    assert [customer for customer, _ in copies] == ["c-de", "c-de", "c-en", "c-en"]
    assert [("resend_of" in (params or {})) for _, params in copies] == [False, True] * 2


def test_the_confirmed_page_leads_on_and_matches_the_email(browser: Browser, pages: Pages) -> None:
    env = make_environment(templates_dir())
    for locale in LOCALES:
        asked = see(browser, pages.html["confirm", locale], 390)
        [button] = asked["buttons"]
        email = render_email(env, f"{locale}/confirm_subscription.email.j2", sample_context(locale))
        # The email names the page's button: what the reader will do there.
        assert button in email.text and button in email.html
        done = see(browser, pages.html["confirm-done", locale], 390)
        hrefs = {link["href"] for link in done["links"]}
        assert EXAMPLE_COMPANY["website"] in hrefs
        assert any(h and h.startswith("/l/preferences.") for h in hrefs)


def test_the_view_link_shows_the_email_as_it_was_sent(browser: Browser, pages: Pages) -> None:
    for locale in LOCALES:
        assert pages.status["view-thank-you", locale] == 200
        found = see(browser, pages.html["view-thank-you", locale], 1280)
        assert "Laptop Aero 14" in found["text"]
        assert ORDER["url"] in {link["href"] for link in found["links"]}
        review = pages.html["view-review-request", locale]
        assert ("DANKE-" if locale == "de" else "THANKS-") in review
