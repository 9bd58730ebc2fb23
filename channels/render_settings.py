"""What rendering needs beyond the journey: the company's details and webhook endpoints.

Read from the environment, with defaults that suit the shipped journeys:

* ``JOURNEYFLOW_COMPANY_NAME``, ``JOURNEYFLOW_COMPANY_ADDRESS`` (postal address, shown in
  the footer of every marketing email), ``JOURNEYFLOW_COMPANY_WEBSITE``,
  ``JOURNEYFLOW_SUPPORT_EMAIL``;
* ``JOURNEYFLOW_UNSUBSCRIBE_MAILBOX``: the mailto: target of ``List-Unsubscribe``
  (default: ``unsubscribe@`` the sender's domain);
* ``JOURNEYFLOW_WEBHOOK_<NAME>``: the URL of a named webhook endpoint, e.g.
  ``JOURNEYFLOW_WEBHOOK_CRM_VIP_ORDER`` for ``webhook: crm_vip_order`` in a journey.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from journeys.templating.context import CompanyContext

WEBHOOK_PREFIX = "JOURNEYFLOW_WEBHOOK_"
# Not an endpoint: the signing secret of outgoing webhooks shares the prefix.
_NOT_ENDPOINTS = frozenset({"SECRET"})
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")

DEFAULT_COMPANY = CompanyContext(
    name="Beispielhandel GmbH",
    address="Musterstraße 1, 10115 Berlin",
    website="https://www.beispielhandel.de",
    support_email="service@beispielhandel.de",
)
_COMPANY_VARS = {
    "name": "JOURNEYFLOW_COMPANY_NAME",
    "address": "JOURNEYFLOW_COMPANY_ADDRESS",
    "website": "JOURNEYFLOW_COMPANY_WEBSITE",
    "support_email": "JOURNEYFLOW_SUPPORT_EMAIL",
}


@dataclass(frozen=True)
class RenderSettings:
    company: CompanyContext = field(default_factory=lambda: CompanyContext(**DEFAULT_COMPANY))
    unsubscribe_mailbox: str | None = None
    webhooks: Mapping[str, str] = field(default_factory=dict)  # endpoint name -> URL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RenderSettings:
        source = os.environ if env is None else env

        def value(var: str) -> str | None:
            return source.get(var, "").strip() or None

        company = CompanyContext(
            name=value(_COMPANY_VARS["name"]) or DEFAULT_COMPANY["name"],
            address=value(_COMPANY_VARS["address"]) or DEFAULT_COMPANY["address"],
            website=value(_COMPANY_VARS["website"]) or DEFAULT_COMPANY["website"],
            support_email=value(_COMPANY_VARS["support_email"]) or DEFAULT_COMPANY["support_email"],
        )
        webhooks = {
            var.removeprefix(WEBHOOK_PREFIX).lower(): url
            for var in source
            if var.startswith(WEBHOOK_PREFIX)
            and var.removeprefix(WEBHOOK_PREFIX) not in _NOT_ENDPOINTS
            and (url := value(var))
        }
        return cls(company, value("JOURNEYFLOW_UNSUBSCRIBE_MAILBOX"), webhooks)

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
