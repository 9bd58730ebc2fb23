"""What rendering needs beyond the journey: the brand, the company's details, webhook endpoints.

Read from the environment, with defaults that suit the shipped journeys:

* the brand customers know (``JOURNEYFLOW_BRAND_NAME``, ``JOURNEYFLOW_BRAND_LOGO_URL``,
  ``…_LOGO_ALT``, ``…_LOGO_WIDTH``, ``…_LOGO_HEIGHT``): the header of every email and
  link page, and the name in the sign-off;
* the legal entity (``JOURNEYFLOW_COMPANY_NAME``, ``JOURNEYFLOW_COMPANY_ADDRESS``,
  ``JOURNEYFLOW_COMPANY_WEBSITE``, ``JOURNEYFLOW_SUPPORT_EMAIL``, and what a German
  company's business mail must carry, § 35a GmbHG: ``…_REGISTERED_OFFICE``,
  ``…_REGISTER_COURT``, ``…_REGISTER_NUMBER``, ``…_MANAGING_DIRECTORS``, ``…_VAT_ID``;
  ``JOURNEYFLOW_PRIVACY_URL`` and ``JOURNEYFLOW_IMPRINT_URL``): the footer;
* ``JOURNEYFLOW_UNSUBSCRIBE_MAILBOX``: the mailto: target of ``List-Unsubscribe``
  (default: ``unsubscribe@`` the sender's domain);
* ``JOURNEYFLOW_WEBHOOK_<NAME>``: the URL of a named webhook endpoint, e.g.
  ``JOURNEYFLOW_WEBHOOK_CRM_VIP_ORDER`` for ``webhook: crm_vip_order`` in a journey.

Without ``JOURNEYFLOW_COMPANY_NAME`` the messages speak for the example company of the
shipped journeys, with all its legal details. Once a company name is set, the legal
details are that company's own: unset ones stay empty (the footer leaves them out and
``journeyflow validate`` warns for journeys with German recipients), never the example's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import cast

from channels.errors import ChannelConfigError
from journeys.templating.context import (
    BRAND_SETTINGS,
    COMPANY_SETTINGS,
    EXAMPLE_BRAND,
    EXAMPLE_COMPANY,
    BrandContext,
    CompanyContext,
)

WEBHOOK_PREFIX = "JOURNEYFLOW_WEBHOOK_"
# Not an endpoint: the signing secret of outgoing webhooks shares the prefix.
_NOT_ENDPOINTS = frozenset({"SECRET"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_COMPANY = EXAMPLE_COMPANY
# Kept from the example company even when another company is named (as before the legal
# details existed): the rest of the footer.
_ALWAYS_DEFAULTED = ("address", "website", "support_email")
_URL_FIELDS = ("privacy_url", "imprint_url")
_EXAMPLE = cast(Mapping[str, str | None], EXAMPLE_COMPANY)
MAX_LOGO_SIZE = 600  # px: the width of the email's content column


def _company(value: Mapping[str, str | None]) -> CompanyContext:
    example = value.get("name") is None
    filled: dict[str, str | None] = {
        key: value.get(key) or (_EXAMPLE[key] if example or key in _ALWAYS_DEFAULTED else None)
        for key in COMPANY_SETTINGS
    }
    for key in _URL_FIELDS:
        url = filled[key]
        if url is not None and not re.match(r"^https?://[^\s/]+", url):
            raise ChannelConfigError(
                f"{COMPANY_SETTINGS[key]} must be an http:// or https:// URL, got {url!r}"
            )
    company: CompanyContext = {
        **EXAMPLE_COMPANY,
        **filled,  # type: ignore[typeddict-item]
        "name": value.get("name") or EXAMPLE_COMPANY["name"],
    }
    return company


def _size(raw: str | None, var: str, default: int) -> int:
    if raw is None:
        return default
    try:
        size = int(raw.removesuffix("px"))
    except ValueError:
        size = 0
    if not 1 <= size <= MAX_LOGO_SIZE:
        raise ChannelConfigError(
            f"{var} must be a whole number of pixels from 1 to {MAX_LOGO_SIZE}, got {raw!r}"
        )
    return size


def _brand(value: Mapping[str, str | None], company_name: str | None) -> BrandContext:
    # Without a brand of its own, a named company shows its legal name.
    name = value.get("name") or company_name or EXAMPLE_BRAND["name"]
    logo = value.get("logo_url")
    if logo is not None and not re.match(r"^https://[^\s/]+", logo):
        raise ChannelConfigError(
            f"{BRAND_SETTINGS['logo_url']} must be an https:// URL (mail clients block "
            f"other images), got {logo!r}"
        )
    return BrandContext(
        name=name,
        logo_url=logo,
        logo_alt=value.get("logo_alt") or name,
        logo_width=_size(value.get("logo_width"), BRAND_SETTINGS["logo_width"], 160),
        logo_height=_size(value.get("logo_height"), BRAND_SETTINGS["logo_height"], 40),
    )


@dataclass(frozen=True)
class RenderSettings:
    company: CompanyContext = field(default_factory=lambda: CompanyContext(**DEFAULT_COMPANY))
    unsubscribe_mailbox: str | None = None
    webhooks: Mapping[str, str] = field(default_factory=dict)  # endpoint name -> URL
    brand: BrandContext = field(default_factory=lambda: BrandContext(**EXAMPLE_BRAND))

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RenderSettings:
        """Raises ChannelConfigError naming the variable whose value cannot be used."""
        source = os.environ if env is None else env

        def value(var: str) -> str | None:
            return source.get(var, "").strip() or None

        company = _company({key: value(var) for key, var in COMPANY_SETTINGS.items()})
        brand = _brand(
            {key: value(var) for key, var in BRAND_SETTINGS.items()},
            value(COMPANY_SETTINGS["name"]),
        )
        webhooks = {
            var.removeprefix(WEBHOOK_PREFIX).lower(): url
            for var in source
            if var.startswith(WEBHOOK_PREFIX)
            and var.removeprefix(WEBHOOK_PREFIX) not in _NOT_ENDPOINTS
            and (url := value(var))
        }
        return cls(company, value("JOURNEYFLOW_UNSUBSCRIBE_MAILBOX"), webhooks, brand)

    def webhook_url(self, target: str) -> str | None:
        """The URL of a webhook action's target: a URL as given, or a named endpoint."""
        if target.startswith(("https://", "http://")):
            return target
        if not _NAME_RE.match(target):
            return None
        return self.webhooks.get(target)

    def unsubscribe_address(self, sender: str | None) -> str:
        if self.unsubscribe_mailbox:
            return self.unsubscribe_mailbox
        domain = (sender or self.company["support_email"]).rpartition("@")[2]
        return f"unsubscribe@{domain}"
