"""The sample's dated moments: carts, event registrations and birthdays.

They feed the journeys that wait for a date or a silence (seed 001's event
registration, the abandoned cart, the birthday greeting). Each helper writes onto a
customer's own timeline (`sample_data._Customer`), so the stream stays deterministic.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .sample_data import _Customer

# (product, price of one)
_PRODUCTS = [
    ("Ultrabook 14", 1299.0),
    ("Allround 15", 649.0),
    ("USB-C-Dock", 89.0),
    ("Notebook-Tasche", 39.9),
]
_EVENT = {
    "event_id": "ev-notebook-abend",
    "event_name": "Notebook-Abend: Kaufberatung live",
    "location": "Beispielhandel Berlin Mitte, Rosenthaler Str. 1",
    "url": "https://www.beispielhandel.de/events/notebook-abend",
}


def birthday(n: int) -> str | None:
    """Seven in ten customers told the shop their birthday; a few were born on 29 February."""
    rng = random.Random(f"birthday-{n}")
    if rng.random() >= 0.7:
        return None
    if rng.random() < 0.02:
        return date(rng.choice([1988, 1992, 1996]), 2, 29).isoformat()
    born = date(rng.randint(1960, 2004), 1, 1) + timedelta(days=rng.randint(0, 364))
    return born.isoformat()


def cart(c: _Customer, products: int = 1) -> None:
    """The customer puts products into the cart (the shop sends the whole cart)."""
    chosen = c.rng.sample(_PRODUCTS, products)
    items: list[dict[str, Any]] = [
        {"name": name, "quantity": 1, "price": price} for name, price in chosen
    ]
    c.emit(
        "shop",
        "cart.updated",
        cart_id=f"cart-{c.id}",
        item_count=len(items),
        items=items,
        total=round(sum(price for _, price in chosen), 2),
        currency="EUR",
        url=f"https://www.beispielhandel.de/warenkorb/{c.id}",
    )


def abandoned_cart(c: _Customer) -> None:
    """Fills a cart and leaves; some come back days later and order, some change
    their mind within the hour and empty it."""
    c.emit("shop", "product.viewed", category="laptops", product="allround-15")
    cart(c, c.rng.randint(1, 3))
    roll = c.rng.random()
    if roll < 0.35:
        c.wait(3)
        from .sample_data import _order

        _order(c)
    elif roll < 0.5:
        c.wait(0.02)
        c.emit(
            "shop",
            "cart.updated",
            cart_id=f"cart-{c.id}",
            item_count=0,
            items=[],
            total=0.0,
            currency="EUR",
        )


def _evening(day: datetime, days: int) -> datetime:
    start = (day + timedelta(days=days)).date()
    return datetime.combine(start, time(17, 0), tzinfo=day.tzinfo)  # 18:00 in Berlin


def event_guest(c: _Customer) -> None:
    """Seed 001's four phases: the ad (awareness), the event's page (consideration), the
    registration (decision), and afterwards: attended or missed it. Some events move,
    some registrations are cancelled."""
    if c.rng.random() < 0.7:
        c.emit("ads", "ad.clicked", campaign="event")
        c.wait(0.3)
    if c.rng.random() < 0.8:
        c.emit("shop", "page.viewed", page="event")
        c.wait(1.5)
    starts = _evening(c.at, c.rng.randint(9, 20))
    details: dict[str, Any] = {
        **_EVENT,
        "starts_at": starts.isoformat(),
        "ends_at": (starts + timedelta(hours=2)).isoformat(),
    }
    c.emit("events", "registration.created", **details)
    roll = c.rng.random()
    if roll < 0.12:
        c.wait(3)
        c.emit(
            "events",
            "registration.cancelled",
            event_id=_EVENT["event_id"],
            event_name=_EVENT["event_name"],
        )
        return
    if roll < 0.3:  # the event moves a week on
        c.wait(2)
        starts += timedelta(days=7)
        details["starts_at"] = starts.isoformat()
        details["ends_at"] = (starts + timedelta(hours=2)).isoformat()
        c.emit("events", "registration.updated", **details)
    c.at = starts + timedelta(hours=3)
    attended = c.rng.random() < 0.7
    after = {"event_id": _EVENT["event_id"], "event_name": _EVENT["event_name"]}
    if attended:
        c.emit("events", "attendance.recorded", attended=True, **after)
    else:
        later = _evening(starts, 28)
        c.emit(
            "events",
            "attendance.recorded",
            attended=False,
            recording_url=f"{_EVENT['url']}/aufzeichnung",
            next_date=later.isoformat(),
            **after,
        )
