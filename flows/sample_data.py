"""A deterministic sample event stream for the demo: personas from the seed articles
(carts, event registrations and birthdays in `sample_moments`).

Run `python -m flows.sample_data` to rewrite `flows/data/sample_events.jsonl`; the file
is committed so that the demo needs nothing but itself.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .sample_moments import abandoned_cart, birthday, cart, event_guest

SAMPLE_PATH = Path(__file__).resolve().parent / "data" / "sample_events.jsonl"
START = datetime(2026, 9, 1, tzinfo=UTC)

_FIRST = {
    "de": ["Max", "Anna", "Lukas", "Sophie", "Jonas", "Marie", "Felix", "Lea", "Paul", "Mia"],
    "en": ["Oliver", "Emma", "Jack", "Olivia", "Harry", "Amelia", "George", "Isla"],
}
_LAST = {
    "de": ["Mustermann", "Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Becker"],
    "en": ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson"],
}
# (country, locale, time zone, mobile prefix, national digits)
_HOMES = [
    ("DE", "de", "Europe/Berlin", "0151 ", 8),
    ("DE", "de", "Europe/Berlin", "0176 ", 8),
    ("AT", "de-AT", "Europe/Vienna", "0664 ", 7),
    ("CH", "de", "Europe/Zurich", "079 ", 7),
    ("DE", "en", "Europe/Berlin", "0160 ", 8),
]


@dataclass
class _Customer:
    """One person of the sample, emitting events on their own timeline."""

    id: str
    rng: random.Random
    at: datetime
    profile: dict[str, Any]
    events: list[dict[str, Any]] = field(default_factory=list)

    def wait(self, days: float, jitter: float = 0.5) -> None:
        self.at += timedelta(days=days * self.rng.uniform(1 - jitter, 1 + jitter))
        # People act in the daytime of their own time zone (roughly 08-21 UTC+1).
        hour = self.at.hour
        if hour < 7 or hour > 20:
            self.at = self.at.replace(hour=self.rng.randint(7, 19))

    def emit(self, source: str, event_type: str, **data: Any) -> None:
        event: dict[str, Any] = {
            "source": source,
            "external_id": f"{source}-{self.id}-{len(self.events) + 1}",
            "type": event_type,
            "customer_id": self.id,
            "occurred_at": self.at.replace(microsecond=0).isoformat(),
            "data": data,
        }
        if not self.events:
            event["customer"] = self.profile
        self.events.append(event)
        self.at += timedelta(minutes=self.rng.randint(1, 90))


def _order(c: _Customer, channel: str = "online") -> None:
    if channel == "online":
        cart(c, c.rng.randint(1, 2))  # an online order goes through the cart
    total = round(c.rng.choice([39.9, 89.0, 249.0, 649.0, 1299.0, 1899.0]), 2)
    c.emit(
        "shop",
        "order.completed",
        order_id=f"o-{c.id}-{len(c.events)}",
        total=total,
        currency="EUR",
        channel=channel,
    )
    if channel == "online":
        c.wait(2)
        c.emit("shop", "order.delivered", order_id=f"o-{c.id}-{len(c.events) - 1}")


def _confirm(c: _Customer) -> None:
    """Most subscribers click the double opt-in link soon; the others' sign-up expires."""
    if c.rng.random() < 0.8:
        c.wait(0.05)
        c.emit("links", "newsletter.confirmed")


def _review(c: _Customer, rating: int) -> None:
    c.emit("shop", "review.submitted", rating=rating, product="notebook")


def _laptop_buyer(c: _Customer) -> None:
    """Max buys a laptop (seed 004): research, newsletter, store visit, purchase, service."""
    c.emit("shop", "product.viewed", category="laptops", product="ultrabook-14")
    c.wait(1)
    c.emit("crm", "newsletter.subscribed", list="angebote")
    _confirm(c)
    c.wait(4)
    c.emit("store", "store.visited", store="Berlin Mitte")
    c.wait(1)
    _order(c, channel=c.rng.choice(["store", "online"]))
    if c.rng.random() < 0.4:
        c.wait(5)
        c.emit("crm", "support.ticket_opened", topic="setup")
        c.wait(1)
        c.emit("crm", "support.ticket_closed", topic="setup")
        c.wait(0.2)
        c.emit("crm", "survey.answered", kind="csat", score=c.rng.choice([3, 4, 5, 5]))


def _researcher(c: _Customer) -> None:
    """Searches and compares (steps 1-2 of seed 000), and does not buy yet."""
    c.emit("ads", "ad.clicked", campaign="herbst")
    c.wait(0.5)
    c.emit("shop", "page.viewed", page="/ratgeber/notebooks")
    c.wait(1)
    c.emit("shop", "product.viewed", category="laptops", product="allround-15")
    c.wait(2)
    c.emit("shop", "product.compared", products=["allround-15", "ultrabook-14"])


def _happy_buyer(c: _Customer) -> None:
    """The whole journey: stimulus, ZMOT, FMOT, SMOT and a glowing UMOT; then quiet."""
    c.emit("ads", "ad.clicked", campaign="herbst")
    c.emit("shop", "page.viewed", page="/notebooks")
    c.wait(1)
    c.emit("shop", "product.viewed", category="laptops", product="ultrabook-14")
    c.emit("shop", "product.compared", products=["ultrabook-14", "pro-16"])
    c.wait(2)
    _order(c)
    c.wait(4)
    _review(c, c.rng.choice([4, 5, 5]))
    if c.rng.random() < 0.3:
        c.wait(45)
        _order(c)


def _unhappy_buyer(c: _Customer) -> None:
    """Buys, is disappointed, is helped by customer care, and answers the CSAT survey."""
    c.emit("shop", "page.viewed", page="/angebote")
    c.wait(1)
    c.emit("crm", "newsletter.subscribed", list="angebote")
    c.emit("shop", "product.compared", products=["budget-13", "allround-15"])
    c.wait(1)
    _order(c)
    c.wait(4)
    _review(c, c.rng.choice([1, 2]))
    c.wait(1)
    c.emit("crm", "support.ticket_opened", topic="defect")
    c.wait(2)
    c.emit("crm", "support.ticket_closed", topic="defect")
    c.wait(0.3)
    c.emit("crm", "survey.answered", kind="csat", score=c.rng.choice([2, 4, 5]))


def _lead(c: _Customer) -> None:
    """A newsletter subscriber (awareness) who looks around and may leave again."""
    c.emit("crm", "newsletter.subscribed", list="news")
    _confirm(c)
    c.wait(3)
    c.emit("shop", "product.viewed", category="accessories", product="usb-c-dock")
    if c.rng.random() < 0.1:
        c.wait(10)
        c.emit("crm", "account.closed", reason="no_interest")


_PERSONAS = [
    (_laptop_buyer, 25),
    (_researcher, 20),
    (_happy_buyer, 25),
    (_unhappy_buyer, 10),
    (_lead, 20),
    (event_guest, 10),
    (abandoned_cart, 10),
]


def _profile(rng: random.Random, n: int) -> dict[str, Any]:
    country, locale, tz, prefix, digits = rng.choice(_HOMES)
    lang = locale.split("-")[0]
    first, last = rng.choice(_FIRST[lang]), rng.choice(_LAST[lang])
    local = "".join(str(rng.randint(0, 9)) for _ in range(digits - 1))
    attributes: dict[str, Any] = {"segment": rng.choice(["b2c", "b2c", "b2b", "vip"])}
    born = birthday(n)
    if born is not None:
        attributes["birthday"] = born
    return {
        "email": f"{first.lower()}.{n}@example.org".replace("ü", "ue"),
        "phone": f"{prefix}{rng.randint(1, 9)}{local}",
        "first_name": first,
        "last_name": last,
        "locale": locale,
        "timezone": tz,
        "country": country,
        "attributes": attributes,
    }


def generate(customers: int = 300, seed: int = 7, duplicates: float = 0.02) -> list[dict[str, Any]]:
    """Events of `customers` people over about three months, in time order.

    A share of them is delivered twice (as webhooks are), to show they apply once.
    """
    rng = random.Random(seed)
    personas, weights = zip(*_PERSONAS, strict=True)
    events: list[dict[str, Any]] = []
    for n in range(1, customers + 1):
        start = START + timedelta(days=rng.uniform(0, 90), hours=rng.randint(8, 18))
        c = _Customer(f"cust-{n:05d}", random.Random(rng.random()), start, _profile(rng, n))
        rng.choices(personas, weights)[0](c)
        events.extend(c.events)
    events.sort(key=lambda e: (e["occurred_at"], e["external_id"]))
    redelivered = [dict(e) for e in rng.sample(events, int(len(events) * duplicates))]
    for again in redelivered:
        at = datetime.fromisoformat(again["occurred_at"])
        index = next(
            i for i, e in enumerate(events) if datetime.fromisoformat(e["occurred_at"]) >= at
        )
        events.insert(min(index + rng.randint(1, 30), len(events)), again)
    return events


def read_events(path: Path = SAMPLE_PATH) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def main() -> None:
    events = generate()
    SAMPLE_PATH.parent.mkdir(parents=True, exist_ok=True)
    with SAMPLE_PATH.open("w", encoding="utf-8") as out:
        for event in events:
            out.write(json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {len(events)} events to {SAMPLE_PATH}")
    from . import sample_people  # imports this module: not at the top

    sample_people.write(events)
    print(f"wrote the customers and their consent to {sample_people.DATA}")


if __name__ == "__main__":
    main()
