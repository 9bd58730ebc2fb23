"""The sample's customers and the consent their shop holds, as a team brings them along.

`flows/data/sample_customers.csv` lists every customer of the sample stream with the
profile their first event carries; `flows/data/sample_consent.csv` holds the consent
the shop recorded a month before the stream starts: most customers subscribed to
email, some unsubscribed, some with a double opt-in still pending, some never asked;
about half subscribed to SMS. The demo imports both through `journeyflow import`'s
functions before it replays the events, so the send rules decide as in production.
Rewritten with the events by `python -m flows.sample_data` (seeded, deterministic).
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any

from .sample_data import START

DATA = Path(__file__).resolve().parent / "data"
SAMPLE_CUSTOMERS = DATA / "sample_customers.csv"
SAMPLE_CONSENT = DATA / "sample_consent.csv"

CUSTOMER_COLUMNS = [
    "id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "country",
    "attr.segment",
    "attr.birthday",
]
CONSENT_COLUMNS = ["customer_id", "channel", "status", "source", "at", "ip", "system", "wording"]
# (email status or None for never asked, weight)
_EMAIL = [("subscribed", 70), ("unsubscribed", 10), ("pending", 8), (None, 12)]
_WORDING = {
    "email": "Ja, ich möchte den Newsletter mit Angeboten per E-Mail erhalten.",
    "sms": "Ja, ich möchte Angebote per SMS erhalten.",
}


def customers_csv(events: Iterable[dict[str, Any]]) -> str:
    """One row per customer, from the profile their first event carries."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CUSTOMER_COLUMNS)
    seen: set[str] = set()
    for event in sorted(events, key=lambda e: e["customer_id"]):
        profile = event.get("customer")
        if profile is None or event["customer_id"] in seen:
            continue
        seen.add(event["customer_id"])
        values = {**profile, "id": event["customer_id"]}
        attributes = profile.get("attributes", {})
        values["attr.segment"] = attributes.get("segment", "")
        values["attr.birthday"] = attributes.get("birthday", "")
        writer.writerow([values.get(name, "") for name in CUSTOMER_COLUMNS])
    return out.getvalue()


def consent_csv(customer_ids: Iterable[str], seed: int = 11) -> str:
    rng = random.Random(seed)
    statuses, weights = zip(*_EMAIL, strict=True)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CONSENT_COLUMNS)
    for customer_id in sorted(set(customer_ids)):
        at = START - timedelta(days=30 + rng.randint(0, 300), minutes=rng.randint(0, 1439))
        ip = f"198.51.100.{rng.randint(1, 254)}"
        email = rng.choices(statuses, weights)[0]
        sms = "subscribed" if rng.random() < 0.5 else None
        for channel, status in (("email", email), ("sms", sms)):
            if status is not None:
                row = [customer_id, channel, status, "shop", at.isoformat(), ip, "Shopware 6"]
                writer.writerow([*row, _WORDING[channel]])
    return out.getvalue()


def write(events: list[dict[str, Any]]) -> None:
    customers = customers_csv(events)
    SAMPLE_CUSTOMERS.write_text(customers, encoding="utf-8")
    ids = [line.split(",", 1)[0] for line in customers.splitlines()[1:]]
    SAMPLE_CONSENT.write_text(consent_csv(ids), encoding="utf-8")
