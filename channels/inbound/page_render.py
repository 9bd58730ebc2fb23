"""HTML for the link pages: Jinja2 templates by locale, autoescaped, self-contained.

A page has no scripts, no external assets but the brand's logo, and sets no cookies; its
headers keep the signed URL out of caches, search engines and the Referer of links
leaving the page.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.responses import HTMLResponse

from channels.render_settings import RenderSettings

TEMPLATES = Path(__file__).resolve().parent / "page_templates"
LOCALES = ("de", "en")
DEFAULT_LOCALE = "de"

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        # Images over https only: the brand's logo (JOURNEYFLOW_BRAND_LOGO_URL).
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}


def choose_locale(customer_locale: str | None, accept_language: str | None = None) -> str:
    """The customer's language if there is a page in it; else the browser's; else German."""
    for candidate in (customer_locale, *_accepted(accept_language)):
        language = (candidate or "").split("-")[0].split("_")[0].strip().lower()
        if language in LOCALES:
            return language
    return DEFAULT_LOCALE


def _accepted(header: str | None) -> list[str]:
    # Order as the browser sent it; the q-values of real browsers only ever descend.
    return [part.split(";")[0] for part in (header or "").split(",") if part.strip()]


def format_date(value: datetime, locale: str) -> str:
    if locale == "de":
        return value.strftime("%d.%m.%Y")
    return f"{value.day} {value:%B %Y}"


class PageRenderer:
    def __init__(self, settings: RenderSettings | None = None) -> None:
        self.settings = settings if settings is not None else RenderSettings.from_env()
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["date"] = format_date

    def page(self, name: str, locale: str, status: int = 200, **context: Any) -> HTMLResponse:
        """`page_templates/<locale>/<name>.html.j2` as a response with the page headers."""
        template = self.env.get_template(f"{locale}/{name}.html.j2")
        html = template.render(
            lang=locale, company=self.settings.company, brand=self.settings.brand, **context
        )
        return HTMLResponse(html, status_code=status, headers=HEADERS)
