"""Expectations against a run: what fails, and how the failure reads."""

from __future__ import annotations

from typing import Any

from flows.scenarios.coverage import items_of, reached_by
from flows.scenarios.expect import check
from flows.scenarios.records import ScenarioRun
from flows.scenarios.runner import Kit
from flows.scenarios.source import validate_scenario
from journeys.model import WebhookAction

ORDER = [
    {"at": "0s", "type": "order.completed", "data": {"total": 80}},
    {"at": "1d", "type": "order.delivered"},
]


def run(kit: Kit, **scenario: Any) -> ScenarioRun:
    return kit.run(validate_scenario({"name": "t", **scenario}), "customer_lifecycle")


def failures(kit: Kit, **scenario: Any) -> dict[str, list[str]]:
    return {f.title: [line.strip() for line in f.lines] for f in check(run(kit, **scenario))}


def test_a_scenario_whose_expectations_hold_has_no_failures(kit: Kit) -> None:
    assert (
        failures(
            kit,
            events=ORDER,
            until="3d",
            expect={
                "stages": [{"at": "2d", "stage": "receiving_offer", "status": "active"}],
                "sent": [{"email": "thank_you"}, {"email": "getting_started", "at": "2d"}],
                "not_sent": [{"email": "review_request"}],
                "deferred": [],
                "promo_codes": [],
            },
        )
        == {}
    )


def test_a_message_is_about_on_time_within_the_tolerance(kit: Kit) -> None:
    near = {"sent": [{"email": "thank_you"}, {"email": "getting_started", "at": "1d23h30m"}]}
    strict = {
        "sent": [
            {"email": "thank_you"},
            {"email": "getting_started", "at": "1d23h30m", "within": "10m"},
        ]
    }

    assert failures(kit, events=ORDER, until="3d", expect=near) == {}
    assert failures(kit, events=ORDER, until="3d", expect=strict)["messages sent"] == [
        "--- expected",
        "+++ actual",
        "@@ -1,2 +1,2 @@",
        "email thank_you",
        "-email getting_started at +1d23h30m",
        "+email getting_started at +2d",
    ]


def test_a_message_expected_but_held_back_says_why(kit: Kit) -> None:
    found = failures(
        kit,
        customer={"consent": {"email": "none"}},
        events=ORDER,
        until="3d",
        expect={"sent": [{"email": "thank_you"}, {"email": "getting_started"}]},
    )

    assert found["messages sent"][-2:] == [
        "-email getting_started",
        "not sent: email getting_started (skipped: no consent)",
    ]


def test_not_sent_fails_for_a_message_sent_or_held_back_for_another_reason(kit: Kit) -> None:
    found = failures(
        kit,
        customer={"consent": {"email": "none"}},
        events=ORDER,
        until="3d",
        expect={
            "not_sent": [
                {"email": "thank_you"},
                {"email": "getting_started", "because": "holdout"},
                {"email": "getting_started", "because": "no consent"},
            ]
        },
    )

    assert found == {
        "messages not to be sent": [
            "email thank_you: sent at +0s",
            "email getting_started: not held back because of 'holdout' (skipped: no consent)",
        ]
    }


def test_an_unexpected_deferral_shows_in_the_diff(kit: Kit) -> None:
    found = failures(
        kit, start="2026-03-02 22:00", events=ORDER, until="3d", expect={"deferred": []}
    )

    assert found["messages deferred"][-1] == (
        "+email getting_started deferred by quiet hours until +2d10h"
    )


def test_coverage_counts_each_branch_of_a_condition_separately(kit: Kit) -> None:
    journey = kit.journeys["customer_lifecycle"]
    small = run(kit, events=[ORDER[0]], until="1h")
    large = run(kit, events=[{**ORDER[0], "data": {"total": 1500}}], until="1h")

    [vip] = [a for a in journey.stage("decision").on_enter if isinstance(a, WebhookAction)]
    holds = ("when", "decision", vip.action_key, True)
    fails = ("when", "decision", vip.action_key, False)
    assert {holds, fails} <= {i.key for i in items_of(journey)}
    assert fails in reached_by(journey, small.decisions)
    assert holds not in reached_by(journey, small.decisions)
    assert holds in reached_by(journey, large.decisions)
    assert fails not in reached_by(journey, large.decisions)
    assert ("action", "decision", vip.action_key) in reached_by(journey, large.decisions)
    assert ("action", "decision", "set_lifecycle") in reached_by(journey, small.decisions)
    # Entering at decision is the first trigger of that stage, an order from anywhere.
    assert ("trigger", "decision", 0) in reached_by(journey, small.decisions)
