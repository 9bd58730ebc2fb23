"""The runner: a scenario through the production path on a fake clock. Times are
computed here by hand, from the journey's own numbers; the send rules' invariants are
checked over random scenarios of a shipped journey."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.scenarios.records import ScenarioRun
from flows.scenarios.runner import Kit
from flows.scenarios.source import ScenarioError, validate_scenario
from flows.scenarios.stores import StoreFactory
from flows.scenarios.suite import Suite
from journeys.config import templates_dir
from journeys.model import Journey
from journeys.yaml_source import read_yaml

BERLIN = ZoneInfo("Europe/Berlin")
# The default start: Monday 2026-03-02 09:00 in Berlin (UTC+1 in March).
START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)

KIT_JOURNEY = """
journey: kit
version: 1
name: Kit
locale: de
locales: [de, en]
stages:
  - key: start
    enter_when: {event: go}
    on_enter:
      - email: thank_you
        marketing: false
      - after: 90m
        email: buying_guide
      - email: getting_started
        when: "customer.segment == 'vip'"
  - key: again
    enter_when: {event: again}
    on_enter:
      - email: review_request
        promo_code: {discount: "10%"}
  - key: later
    enter_when: [{after: 3d, from: [start]}]
    on_enter:
      - sms: we_miss_you
        promo_code: {discount: "10%"}
settings:
  timezone: Europe/Berlin
  quiet_hours: "21:00-08:00"
  frequency_cap: {email: 2/7d}
"""


@pytest.fixture(scope="module")
def journey() -> Journey:
    data, _ = read_yaml(KIT_JOURNEY)
    return Journey.model_validate(data)


@pytest.fixture
def small_kit(journey: Journey, stores: StoreFactory) -> Iterator[Kit]:
    made = Kit([journey], templates_dir(), stores)
    yield made
    made.close()


def run(kit: Kit, **scenario: Any) -> ScenarioRun:
    return kit.run(validate_scenario({"name": "a test", **scenario}), "kit")


def sent(result: ScenarioRun) -> list[tuple[str, datetime]]:
    return [(s.message.name, s.at) for s in result.sent]


def test_messages_leave_exactly_when_they_fall_due(small_kit: Kit) -> None:
    result = run(small_kit, events=[{"at": "0s", "type": "go"}], until="4d")

    assert sent(result) == [
        ("thank_you", START),
        ("buying_guide", START + timedelta(minutes=90)),
        ("we_miss_you", START + timedelta(days=3)),
    ]
    assert result.stage_at(timedelta(days=3) - timedelta(seconds=1)) == "start"
    assert result.stage_at("3d") == "later"
    assert result.stages == ["start", "later"]


def test_quiet_hours_are_read_in_the_customer_s_own_time_zone(small_kit: Kit) -> None:
    # 20:00 in New York (UTC-5 until 8 March 2026): the guide falls due at 21:30 there,
    # in the quiet hours, and waits for 08:00 New York time, 13:00 UTC.
    result = run(
        small_kit,
        start="2026-03-02 20:00",
        customer={"timezone": "America/New_York"},
        events=[{"at": "0s", "type": "go"}],
        until="1d",
    )

    started = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)
    assert sent(result) == [
        ("thank_you", started),  # transactional: no quiet hours
        ("buying_guide", datetime(2026, 3, 3, 13, 0, tzinfo=UTC)),
    ]
    [deferral] = result.deferred
    assert (deferral.by, deferral.until) == ("quiet hours", datetime(2026, 3, 3, 13, 0, tzinfo=UTC))


def test_the_frequency_cap_holds_a_message_until_the_first_send_leaves_the_window(
    small_kit: Kit,
) -> None:
    # Two marketing emails at 0s and 90m use up the cap of 2 per 7 days; the third waits
    # until the first is 7 days old (09:00 Berlin, outside the quiet hours).
    scenario = {
        "customer": {"attributes": {"segment": "vip"}},
        "events": [{"at": "0s", "type": "go"}, {"at": "2d", "type": "again"}],
        "until": "8d",
    }

    first, second = run(small_kit, **scenario), run(small_kit, **scenario)

    emails = [(n, t) for n, t in sent(first) if n != "we_miss_you"]
    assert emails == [
        ("thank_you", START),
        ("getting_started", START),
        ("buying_guide", START + timedelta(minutes=90)),
        ("review_request", START + timedelta(days=7)),
    ]
    assert [(d.message.name, d.by, d.until) for d in first.deferred] == [
        ("review_request", "frequency cap", START + timedelta(days=7))
    ]
    # Each scenario has a store of its own: the first one's sends count nowhere else.
    assert sent(second) == sent(first)


def test_consent_given_during_the_scenario_lets_marketing_through(small_kit: Kit) -> None:
    without = run(
        small_kit,
        customer={"consent": {"email": "none"}},
        events=[{"at": "0s", "type": "go"}],
        until="1d",
    )
    given_later = run(
        small_kit,
        customer={"consent": {"email": "none"}},
        events=[{"at": "0s", "type": "go"}, {"at": "1h", "consent": {"email": "subscribed"}}],
        until="1d",
    )

    assert [n for n, _ in sent(without)] == ["thank_you"]
    assert [(n.message.name, n.reason) for n in without.not_sent] == [
        ("buying_guide", "no consent")
    ]
    assert [n for n, _ in sent(given_later)] == ["thank_you", "buying_guide"]


def test_a_profile_change_is_what_later_conditions_read(small_kit: Kit) -> None:
    vip = run(
        small_kit,
        events=[
            {"at": "0s", "customer": {"attributes": {"segment": "vip"}}},
            {"at": "1m", "type": "go"},
        ],
        until="1h",
    )
    other = run(small_kit, events=[{"at": "1m", "type": "go"}], until="1h")

    assert [n for n, _ in sent(vip)] == ["thank_you", "getting_started"]
    assert [n for n, _ in sent(other)] == ["thank_you"]


def test_absolute_times_are_read_in_the_customer_s_time_zone(small_kit: Kit) -> None:
    result = run(
        small_kit,
        customer={"timezone": "Asia/Tokyo"},
        start="2026-03-02 10:00",
        events=[{"at": "2026-03-02 11:00", "type": "go"}],
        until="2026-03-02 12:00",
    )

    # 11:00 in Tokyo (UTC+9) is 02:00 UTC.
    assert sent(result) == [("thank_you", datetime(2026, 3, 2, 2, 0, tzinfo=UTC))]
    assert result.end == datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


def test_a_scenario_given_in_python_names_its_bad_field() -> None:
    with pytest.raises(ScenarioError) as raised:
        validate_scenario({"name": "x", "events": [{"at": "3x", "type": "go"}]})

    [problem] = raised.value.problems
    assert problem.field == "events.0.at"
    assert str(raised.value).startswith("1 problem in scenario file\n  <python>: events.0.at: '3x'")


# --- the send rules hold in any scenario -----------------------------------------------------

EVENTS = [
    ("order.completed", {"total": 80}),
    ("order.completed", {"total": 1500}),
    ("order.delivered", {}),
    ("review.submitted", {"rating": 5}),
    ("review.submitted", {"rating": 1}),
    ("support.ticket_closed", {}),
    ("survey.answered", {"score": 5}),
    ("page.viewed", {}),
    ("product.compared", {}),
]
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


@st.composite
def lifecycles(draw: st.DrawFn) -> dict[str, Any]:
    """An order and its delivery at any time of day, then anything the customer does."""
    minute = st.integers(min_value=0, max_value=24 * 60)
    ordered = draw(minute)
    delivered = ordered + draw(st.integers(min_value=60, max_value=3 * 24 * 60))
    events = [
        {"at": f"{ordered}m", "type": "order.completed", "data": {"total": 80}},
        {"at": f"{delivered}m", "type": "order.delivered"},
    ]
    for _ in range(draw(st.integers(min_value=0, max_value=5))):
        kind, data = draw(st.sampled_from(EVENTS))
        at = draw(st.integers(min_value=0, max_value=20 * 24 * 60))
        events.append({"at": f"{at}m", "type": kind, "data": data})
    consent = draw(st.sampled_from(["subscribed", "subscribed", "subscribed", "none"]))
    return {
        "name": "random",
        "customer": {"timezone": draw(st.sampled_from(ZONES)), "consent": {"email": consent}},
        "events": events,
        "until": "40d",
    }


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lifecycles())
def test_the_send_rules_hold_whatever_the_customer_does(
    shipped: Suite, data: dict[str, Any]
) -> None:
    kit = Kit(shipped.journeys.values(), shipped.templates)
    try:
        result = kit.run(validate_scenario(data), "customer_lifecycle")
    finally:
        kit.close()
    zone = ZoneInfo(data["customer"]["timezone"])
    subscribed = data["customer"]["consent"]["email"] == "subscribed"
    marketing = [
        s for s in result.sent if s.message.channel == "email" and s.message.name != "thank_you"
    ]
    assert [n for n in result.not_sent if n.status == "failed"] == []
    for message in result.sent:
        assert message.at >= message.message.due_at
    if not subscribed:
        assert marketing == []
    for message in marketing:
        local = message.at.astimezone(zone).time()
        assert not (local.hour >= 21 or local.hour < 8), (message, local)
    times = sorted(m.at for m in marketing)
    for i, at in enumerate(times):
        assert sum(1 for t in times[: i + 1] if at - t < timedelta(days=7)) <= 3
