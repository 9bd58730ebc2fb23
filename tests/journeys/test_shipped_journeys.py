"""Every journey shipped in journeys/definitions/ loads, validates, and can be driven
from its entry to its end with a scripted sequence of events and clock ticks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from jf_factories import T0, Driver

from journeys import load_journey, validate_paths
from journeys.config import definitions_dir, templates_dir
from journeys.loader import journey_files

FILES = sorted(journey_files([definitions_dir()]))

Step = tuple[str, float, dict[str, Any]]  # (event type or "tick", day, event data)

# For each shipped journey: a customer's life, the stages it must pass in order, and how
# the enrollment ends. A new journey without a script here fails `test_has_a_script`.
SCRIPTS: dict[str, tuple[list[Step], list[str], str]] = {
    "customer_lifecycle": (
        [
            ("page.viewed", 0, {"page": "/ratgeber"}),
            ("product.compared", 1, {}),
            ("order.completed", 3, {"total": 1299.0, "channel": "online"}),
            ("order.delivered", 5, {}),
            ("tick", 9, {}),  # 3 days after delivery: evaluation, review request
            ("review.submitted", 10, {"rating": 2}),  # unhappy: customer care
            ("support.ticket_closed", 12, {}),
            ("survey.answered", 13, {"score": 5}),  # helped: loyal after all
            ("tick", 40, {}),  # 21 days in loyalty: the referral request
            ("tick", 120, {}),  # 60 quiet days: dormant, the we-miss-you SMS
            ("account.closed", 130, {}),
        ],
        [
            "information_search",
            "comparing_offers",
            "decision",
            "receiving_offer",
            "evaluation",
            "customer_care",
            "loyalty",
            "recommendation",
            "dormant",
        ],
        "exited",
    ),
    "five_phases": (
        [
            ("newsletter.subscribed", 0, {}),
            ("product.viewed", 2, {"category": "laptops"}),
            ("order.completed", 4, {"total": 89.0}),
            ("order.delivered", 6, {}),
            ("review.submitted", 9, {"rating": 5}),
            ("tick", 20, {}),
            ("customer.deleted", 30, {}),
        ],
        ["awareness", "consideration", "purchase", "retention", "loyalty"],
        "exited",
    ),
    "moments_of_truth": (
        [
            ("ad.clicked", 0, {"campaign": "herbst"}),
            ("product.viewed", 1, {"category": "laptops"}),
            ("order.completed", 3, {"total": 649.0}),
            ("order.delivered", 5, {}),
            ("tick", 16, {}),  # 10 days after the first use: UMOT, the final stage
        ],
        ["stimulus", "zmot", "fmot", "smot", "umot"],
        "completed",
    ),
    "newsletter_opt_in": (
        [
            ("newsletter.subscribed", 0, {}),
            ("tick", 8, {}),  # not confirmed within 7 days: the sign-up expires
            ("newsletter.subscribed", 10, {}),  # a new sign-up starts over
            ("newsletter.confirmed", 10.1, {}),
        ],
        ["awaiting_confirmation", "expired", "awaiting_confirmation", "confirmed"],
        "completed",
    ),
    "omnichannel_retail": (
        [
            ("product.viewed", 0, {"category": "laptops"}),
            ("newsletter.subscribed", 1, {}),
            ("store.visited", 5, {"store": "Berlin Mitte"}),
            ("order.completed", 6, {"total": 1299.0, "channel": "online"}),
            ("order.delivered", 8, {}),
            ("support.ticket_opened", 10, {"topic": "setup"}),
            ("support.ticket_closed", 11, {}),
            ("tick", 30, {}),
            ("account.closed", 40, {}),
        ],
        [
            "online_research",
            "newsletter",
            "store_visit",
            "purchase",
            "delivery",
            "support",
            "after_sales",
        ],
        "exited",
    ),
    "birthday_club": (
        [
            ("account.created", 0, {}),
            ("tick", 400, {}),
            ("account.closed", 401, {}),
        ],
        ["member", "birthday", "member"],
        "exited",
    ),
    "weekly_digest": (
        [
            ("newsletter.confirmed", 0, {}),
            ("tick", 8, {}),
            ("customer.deleted", 9, {}),
        ],
        ["subscribed", "digest", "subscribed"],
        "exited",
    ),
    "abandoned_cart": (
        [
            ("cart.updated", 0, {"cart_id": "c1", "item_count": 1}),
            ("cart.updated", 0.05, {"cart_id": "c1", "item_count": 2}),  # the wait restarts
            ("tick", 1, {}),  # four hours without a change: the reminder
        ],
        ["cart", "cart", "reminded"],
        "completed",
    ),
    "event_registration": (
        [
            ("ad.clicked", 0, {"campaign": "event"}),
            ("page.viewed", 0.1, {"page": "event"}),
            (
                "registration.created",
                1,
                {"event_id": "e1", "starts_at": "2026-03-20T18:00:00+01:00"},
            ),
            (
                "registration.updated",
                2,
                {"event_id": "e1", "starts_at": "2026-03-27T18:00:00+01:00"},
            ),
            ("attendance.recorded", 26, {"event_id": "e1", "attended": True}),
        ],
        ["awareness", "consideration", "registered", "registered", "attended"],
        "completed",
    ),
}


def _key(path: Path) -> str:
    return load_journey(path).journey


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_validates_with_its_templates(path: Path) -> None:
    report = validate_paths([path], templates_dir())

    assert [str(p) for p in report.problems] == []
    assert [j.journey for j in report.journeys] == [path.stem]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_has_a_script(path: Path) -> None:
    assert _key(path) in SCRIPTS, f"add a scripted customer for {path.name} to SCRIPTS"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_a_customer_can_be_driven_from_entry_to_the_end(path: Path) -> None:
    journey = load_journey(path)
    steps, expected_path, end = SCRIPTS[journey.journey]
    d = Driver(
        journey,
        profile={"country": "DE", "locale": "de", "timezone": "Europe/Berlin"},
        attributes={"birthday": "1990-06-15"},  # for the journeys that greet on it
    )

    for kind, day, data in steps:
        at = T0 + timedelta(days=day)
        if kind == "tick":
            d.tick(at)
        else:
            d.send(kind, at, **data)

    assert d.path == expected_path
    assert [e.reason for e in d.ends] == [end]
    assert d.state is not None and d.state.status == end
    # Every stage of the journey is passed by the script: none is dead weight. (Final
    # stages that are alternatives to the script's end - a cancellation, a no-show - are
    # reached by the journey's scenarios, whose coverage is checked in tests/flows.)
    assert set(journey.stage_keys) - set(d.path) <= {s.key for s in journey.stages if s.final}
    # Every message action that fell due before the end goes to a template that exists.
    for action in d.scheduled:
        if action.kind in ("email", "sms") and action.template:
            for locale in journey.all_locales:
                file = templates_dir() / locale / f"{action.template}.{action.kind}.j2"
                assert file.is_file(), file
