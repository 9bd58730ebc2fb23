"""What the footer of a message to German recipients must say, checked against the
company settings: `validate` warns for each journey that writes in German while one
of them is empty.

A German company's business mail names its registered office, register court and
number and every managing director (§ 35a GmbHG; § 80 AktG and § 37a HGB ask the same of
other forms); a marketing mail needs a postal address, and a link to the privacy policy
and the legal notice (Impressum, DDG § 5) is what a reader must be able to reach. The
VAT ID is shown where set, but not every company has one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Problem
from .loader import SourceMap
from .model import Journey
from .templating.context import COMPANY_SETTINGS
from .validate_places import Places

REQUIRED_IN_GERMANY = (
    "address",
    "registered_office",
    "register_court",
    "register_number",
    "managing_directors",
    "privacy_url",
    "imprint_url",
)


def writes_german(journey: Journey) -> bool:
    return any(locale.split("-")[0].lower() == "de" for locale in journey.all_locales)


def check_legal(
    journey: Journey, spots: SourceMap, file: str, company: Mapping[str, Any]
) -> list[Problem]:
    """One warning naming every legally required company setting left empty."""
    if not writes_german(journey):
        return []
    empty = [COMPANY_SETTINGS[key] for key in REQUIRED_IN_GERMANY if not company.get(key)]
    if not empty:
        return []
    c = Places(spots, file)
    where = "locales" if journey.locales else "locale"
    c.add(
        (where,),
        "the journey writes to German recipients, whose emails must name the company's "
        "registered office, register court and number, managing directors (§ 35a GmbHG), "
        "and link the privacy policy and the legal notice; set " + ", ".join(empty),
        severity="warning",
    )
    return c.problems
