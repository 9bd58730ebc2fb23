"""Every shipped email, looked at in headless Chromium as a designer would.

Each email template (both locales, sample values) is laid out at 1,280 and 390 px, and
in dark mode: nothing may overflow horizontally, promo codes and scores stay on one
line, text meets WCAG AA contrast; the footer, the preheader, the view link, the survey
scales and the order are where a reader looks for them. Screenshots stay in
test-artifacts/visual/emails/ for a person to look at. One Chromium serves the module
over the DevTools protocol (flows/headless.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from babel.numbers import format_currency
from visual_checks import look, problems, scale_problems

from flows.headless import Browser
from journeys.config import templates_dir
from journeys.templating import TemplateEnvironment, make_environment, render_email, sample_context
from journeys.templating.context import EXAMPLE_BRAND

WIDTHS = (1280, 390)
LOCALES = ("de", "en")
TEMPLATES = templates_dir()
EMAILS = sorted(
    (locale, path.name.removesuffix(".email.j2"))
    for locale in LOCALES
    for path in (TEMPLATES / locale).glob("*.email.j2")
)
PROMO = {"review_request", "loyalty_offer", "welcome", "accessories_offer"}


@pytest.fixture(scope="module")
def env() -> TemplateEnvironment:
    return make_environment(TEMPLATES)


# --- emails -----------------------------------------------------------------------------


def _email_problems(
    locale: str, name: str, ctx: dict[str, Any], found: dict[str, Any]
) -> list[str]:
    """What every email must show, and what particular ones must."""
    out = problems(found)
    links = {link["href"] for link in found["links"]}
    company = ctx["company"]
    page = found["text"]
    if ctx["links"]["view"] not in links:
        out.append("no 'view in browser' link")
    for fact in ("register_court", "register_number", "managing_directors", "vat_id"):
        if company[fact] not in page:
            out.append(f"the footer lacks {fact}: {company[fact]}")
    for url in ("privacy_url", "imprint_url"):
        if company[url] not in links:
            out.append(f"no link to {url}")
    if {"text": ctx["brand"]["name"], "href": company["website"]} not in found["links"]:
        out.append("the header does not show the brand")
    pre = found["preheader"]
    if pre is None:
        out.append("no hidden preheader before the body")
    else:
        shown = pre.rstrip("\u034f\u200c\u00a0 ")
        if not shown.strip() or len(pre) - len(shown) < 50:
            out.append("the preheader has no filler: the inbox preview runs into the body")
    if name in PROMO and ctx["promo_code"]["code"] not in page:
        out.append("the promo code is not shown on one line")
    if name == "nps_survey":
        out += scale_problems(found, 0, 10, one_row=True)
    if name == "csat_survey":
        out += scale_problems(found, 1, 5, one_row=True)
    if name in ("nps_survey", "csat_survey"):
        survey = ctx["links"]["survey"]
        wanted = [f"{survey}?score={s['text']}" for s in found["scores"]]
        if [s["href"] for s in found["scores"]] != wanted:
            out.append("a score is not a link to the survey page with its score")
    if name == "thank_you":
        data = ctx["event"]["data"]
        for item in data["items"]:
            line = format_currency(item["price"] * item["quantity"], "EUR", locale=locale)
            if item["name"] not in page or line.replace("\xa0", " ") not in page.replace(
                "\xa0", " "
            ):
                out.append(f"the order lacks {item['name']} at {line}")
        total = format_currency(data["total"], "EUR", locale=locale).replace("\xa0", " ")
        if total not in page.replace("\xa0", " "):
            out.append(f"the order lacks its total {total}")
        if data["url"] not in links:
            out.append("no button to the order")
    return out


@pytest.mark.parametrize(("locale", "name"), EMAILS, ids=[f"{loc}-{n}" for loc, n in EMAILS])
def test_every_email_passes_a_designers_review(
    browser: Browser, env: TemplateEnvironment, locale: str, name: str
) -> None:
    ctx = sample_context(locale)
    html = render_email(env, f"{locale}/{name}.email.j2", ctx).html
    failures = []
    for width in WIDTHS:
        found = look(browser, html, width, Path("emails") / f"{name}.{locale}.{width}.png")
        failures += [f"{width} px: {p}" for p in _email_problems(locale, name, ctx, found)]
    browser.dark(True)
    try:
        found = look(browser, html, 390, Path("emails") / f"{name}.{locale}.390.dark.png")
    finally:
        browser.dark(False)
    failures += [f"dark: {p}" for p in problems(found)]
    if found["bodyLuminance"] > 0.05:
        failures.append(f"dark: the background stays light ({found['bodyBackground']})")
    assert failures == []


@pytest.mark.parametrize("locale", LOCALES)
def test_the_longest_promo_code_stays_on_one_line_on_a_phone(
    browser: Browser, env: TemplateEnvironment, locale: str
) -> None:
    ctx = sample_context(locale)
    ctx["promo_code"]["code"] = "WILLKOMMEN12-7K9M-X3HT-4FNP-WC6R"  # a 12-character prefix
    html = render_email(env, f"{locale}/welcome.email.j2", ctx).html
    found = look(browser, html, 390, Path("emails") / f"welcome.{locale}.longest-code.390.png")
    assert problems(found) == []
    assert ctx["promo_code"]["code"] in found["text"]


def test_a_logo_replaces_the_wordmark_with_its_alt_text_and_size(
    browser: Browser, env: TemplateEnvironment
) -> None:
    ctx = sample_context("de")
    svg = "<svg xmlns='http://www.w3.org/2000/svg' width='160' height='40'/>"
    ctx["brand"] = {
        **EXAMPLE_BRAND,
        "logo_url": "data:image/svg+xml," + svg.replace("<", "%3C").replace(">", "%3E"),
        "logo_alt": "Beispielhandel – zur Startseite",
        "logo_width": 180,
        "logo_height": 45,
    }
    html = render_email(env, "de/welcome.email.j2", ctx).html
    for width in WIDTHS:
        found = look(browser, html, width, Path("emails") / f"welcome.de.logo.{width}.png")
        assert problems(found) == []
        assert found["images"] == [
            {"alt": "Beispielhandel – zur Startseite", "width": "180", "height": "45"}
        ]
