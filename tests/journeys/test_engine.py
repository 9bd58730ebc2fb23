"""Scripted scenarios of the stage engine on a post-purchase journey.

The journey (jf_factories.POST_PURCHASE_YAML): purchase -> evaluation (review request
with a promo code 3 days after delivery) -> loyalty (review with rating >= 4) or
complaint -> care -> loyalty; dormant (final) after 60 days without an event in
loyalty, or 30 days in evaluation without a review.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from jf_factories import (
    POST_PURCHASE_YAML,
    Driver,
    DriverFactory,
    at,
    build_journey,
    days,
    make_customer,
    make_event,
    of_type,
)

from journeys.decisions import (
    AttributesSet,
    Ended,
    Enrolled,
    ScheduledAction,
    Transitioned,
)
from journeys.engine import decide, next_timer
from journeys.model import Journey


def reach_evaluation(d: Driver) -> None:
    """Order on day 0, delivery on day 2."""
    d.send("order.completed", at(0), event_id="order-1")
    d.send("order.delivered", at(2), event_id="delivery-1")


def reach_loyalty(d: Driver, day: float = 6) -> None:
    reach_evaluation(d)
    d.send("review.submitted", at(day), event_id="review-1", rating=5)


# --- enrollment -------------------------------------------------------------------------


def test_entry_event_enrolls_the_customer_in_the_first_stage(driver: Driver) -> None:
    outcome = driver.send("order.completed", at(0), event_id="order-1")

    assert outcome.state is not None
    assert (outcome.state.stage, outcome.state.status, outcome.state.number) == (
        "purchase",
        "active",
        1,
    )
    [enrolled] = of_type(outcome.decisions, Enrolled)
    assert (enrolled.number, enrolled.stage, enrolled.at) == (1, "purchase", at(0))
    [entered] = of_type(outcome.decisions, Transitioned)
    assert entered.from_stage is None
    assert (entered.to_stage, entered.stage_entry, entered.cause) == (
        "purchase",
        1,
        "event:order-1",
    )
    thank_you = driver.action("thank_you")
    assert (thank_you.kind, thank_you.template, thank_you.due_at) == ("email", "thank_you", at(0))
    assert thank_you.params["marketing"] is False


@pytest.mark.parametrize(
    ("event_type", "data"),
    [("order.delivered", {}), ("review.submitted", {"rating": 5}), ("page.viewed", {})],
)
def test_events_that_are_not_an_entry_trigger_do_not_enroll(
    driver: Driver, event_type: str, data: dict[str, Any]
) -> None:
    outcome = driver.send(event_type, at(0), **data)

    assert outcome.state is None
    assert outcome.decisions == ()


def test_entry_audience_filter_reads_the_customer(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    dach_only = journey_factory(
        POST_PURCHASE_YAML, entry={"where": "customer.country in ['DE', 'AT', 'CH']"}
    )
    german, french = make_driver(dach_only, country="DE"), make_driver(dach_only, country="FR")

    german.send("order.completed", at(0))
    french.send("order.completed", at(0))

    assert german.stage == "purchase"
    assert french.state is None
    assert french.log == []


def test_a_customer_can_start_in_any_listed_entry_stage(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    journey = journey_factory(
        """
        journey: onboarding
        version: 1
        name: Onboarding
        entry: {stages: [trial, paid]}
        stages:
          - key: trial
            enter_when: {event: trial.started}
          - key: paid
            enter_when: {event: subscription.started}
          - key: lapsed
            enter_when: {after: 14d, from: [trial]}
            final: true
        """
    )
    trial, paid = make_driver(journey), make_driver(journey)

    trial.send("trial.started", at(0))
    paid.send("subscription.started", at(0))

    assert (trial.stage, paid.stage) == ("trial", "paid")
    assert trial.enrollments[0].stage == "trial"
    assert paid.enrollments[0].stage == "paid"


# --- transitions ------------------------------------------------------------------------


def test_happy_path_records_each_transition_with_its_cause(driver: Driver) -> None:
    reach_loyalty(driver, day=6)

    assert driver.path == ["purchase", "evaluation", "loyalty"]
    assert [(t.from_stage, t.to_stage) for t in driver.transitions] == [
        (None, "purchase"),
        ("purchase", "evaluation"),
        ("evaluation", "loyalty"),
    ]
    assert [t.cause for t in driver.transitions] == [
        "event:order-1",
        "event:delivery-1",
        "event:review-1",
    ]
    assert [t.at for t in driver.transitions] == [at(0), at(2), at(6)]
    assert [t.stage_entry for t in driver.transitions] == [1, 2, 3]
    # Each stage left is announced, so its pending delayed actions can be dropped.
    assert [(s.stage, s.stage_entry, s.at) for s in driver.left] == [
        ("purchase", 1, at(2)),
        ("evaluation", 2, at(6)),
    ]


def test_a_review_that_matches_no_trigger_keeps_the_customer_in_place(driver: Driver) -> None:
    reach_evaluation(driver)

    outcome = driver.send("review.submitted", at(3), rating=3)

    assert outcome.decisions == ()
    assert driver.stage == "evaluation"


def test_a_trigger_without_from_does_not_re_enter_the_current_stage(driver: Driver) -> None:
    driver.send("order.completed", at(0), event_id="order-1")

    outcome = driver.send("order.completed", at(1), event_id="order-2")

    assert outcome.decisions == ()
    assert driver.action_keys() == ["thank_you"]


def test_a_trigger_without_from_fires_from_any_other_stage(driver: Driver) -> None:
    reach_loyalty(driver)

    driver.send("order.completed", at(20), event_id="order-2")

    assert driver.path[-1] == "purchase"
    assert driver.transitions[-1].from_stage == "loyalty"
    assert driver.action_keys().count("thank_you") == 2
    assert len(driver.enrollments) == 1


@pytest.mark.parametrize(
    ("stage_day", "event_type", "data"),
    [
        (0, "review.submitted", {"rating": 5}),  # loyalty is entered from evaluation only
        (6, "order.delivered", {}),  # evaluation is entered from purchase only
    ],
)
def test_a_trigger_with_from_fires_only_from_those_stages(
    driver: Driver, stage_day: float, event_type: str, data: dict[str, Any]
) -> None:
    if stage_day:
        reach_loyalty(driver, day=stage_day)
    else:
        driver.send("order.completed", at(0))
    stage = driver.stage

    outcome = driver.send(event_type, at(stage_day + 1), **data)

    assert of_type(outcome.decisions, Transitioned) == []
    assert driver.stage == stage


@pytest.mark.parametrize(
    ("total", "big_first", "expected"),
    [
        (150, True, "big_spender"),
        (20, True, "buyer"),
        (150, False, "buyer"),
    ],
)
def test_the_first_matching_trigger_in_declaration_order_wins(
    make_driver: DriverFactory,
    journey_factory: Callable[..., Journey],
    total: int,
    big_first: bool,
    expected: str,
) -> None:
    big = {
        "key": "big_spender",
        "enter_when": {"event": "order.completed", "where": "total >= 100", "from": ["browsing"]},
        "final": True,
    }
    plain = {
        "key": "buyer",
        "enter_when": {"event": "order.completed", "from": ["browsing"]},
        "final": True,
    }
    browsing = {"key": "browsing", "enter_when": {"event": "session.started"}}
    journey = journey_factory(
        {
            "journey": "tiers",
            "version": 1,
            "name": "Tiers",
            "stages": [browsing, *([big, plain] if big_first else [plain, big])],
        }
    )
    d = make_driver(journey)
    d.send("session.started", at(0))

    d.send("order.completed", at(1), total=total)

    assert d.stage == expected


# --- delayed actions --------------------------------------------------------------------


def test_review_request_with_promo_code_falls_due_three_days_after_delivery(
    driver: Driver,
) -> None:
    reach_evaluation(driver)

    request = driver.action("review_request")
    assert request.due_at == at(2) + days(3)
    assert (request.kind, request.template, request.stage, request.stage_entry) == (
        "email",
        "review_request",
        "evaluation",
        2,
    )
    assert request.params["promo_code"]["discount"] == "10%"
    assert request.params["promo_code"]["valid_for"] == "30d"
    assert driver.action("survey_webhook").due_at == at(2) + days(10)


def test_a_tick_before_the_due_time_changes_nothing(driver: Driver) -> None:
    reach_evaluation(driver)

    outcome = driver.tick(at(4))

    assert outcome.decisions == ()
    assert driver.stage == "evaluation"


def test_delayed_action_is_void_when_the_customer_moves_on_first(driver: Driver) -> None:
    reach_evaluation(driver)
    request = driver.action("review_request")

    # The review arrives a day after delivery, two days before the request would go out.
    driver.send("review.submitted", at(3), rating=5)

    assert request.cancel_on_leave
    [left] = [s for s in driver.left if s.stage == "evaluation"]
    assert (left.number, left.stage_entry, left.at) == (request.number, request.stage_entry, at(3))
    assert driver.is_void(request)
    # cancel_on_leave: false keeps the survey webhook although the customer left.
    assert not driver.is_void(driver.action("survey_webhook"))


def test_delayed_action_stands_when_the_customer_is_still_there_at_its_due_time(
    driver: Driver,
) -> None:
    reach_evaluation(driver)

    driver.send("review.submitted", at(6), rating=5)

    assert not driver.is_void(driver.action("review_request"))


def test_an_immediate_action_survives_an_immediate_move_on(driver: Driver) -> None:
    reach_evaluation(driver)

    driver.send("review.submitted", at(3), rating=1)

    # The complaint stage opens a CRM ticket and hands over to care in the same instant;
    # the outbox must not drop the ticket because the customer has already left.
    ticket = driver.action("crm_ticket")
    assert ticket.stage == "complaint"
    assert not ticket.cancel_on_leave
    assert not driver.is_void(ticket)


# --- when: conditions and set_attribute -------------------------------------------------


def test_when_condition_decides_whether_an_action_is_scheduled(
    make_driver: DriverFactory,
) -> None:
    german, american = make_driver(country="DE"), make_driver(customer_id="c2", country="US")

    reach_loyalty(german)
    reach_loyalty(american)

    assert "referral_request" in german.action_keys()
    assert "referral_request" not in american.action_keys()
    # The stage is entered all the same.
    assert american.stage == "loyalty"


def test_set_attribute_is_visible_to_a_later_condition_in_the_same_stage(
    make_driver: DriverFactory,
) -> None:
    d = make_driver()
    reach_loyalty(d)

    [change] = of_type(d.log, AttributesSet)
    assert dict(change.values) == {"advocate": True}
    assert change.at == at(6)
    # The referral's condition needs advocate == true, which only this stage sets.
    assert "referral_request" in d.action_keys()


def test_set_attribute_is_visible_across_a_move_to_chain(make_driver: DriverFactory) -> None:
    d = make_driver()
    reach_evaluation(d)

    d.send("review.submitted", at(3), rating=1, event_id="review-1")

    # complaint sets needs_care and moves on at once; care's apology depends on it.
    assert d.path[-2:] == ["complaint", "care"]
    apology = d.action("apology")
    assert (apology.stage, apology.due_at) == ("care", at(3))


@pytest.mark.parametrize(("tier", "gets_voucher"), [("gold", True), ("silver", False)])
def test_when_condition_reads_customer_attributes(
    make_driver: DriverFactory, tier: str, gets_voucher: bool
) -> None:
    d = make_driver(attributes={"tier": tier})
    reach_evaluation(d)

    d.send("review.submitted", at(3), rating=2)

    assert ("voucher" in d.action_keys()) is gets_voucher


# --- move_to ----------------------------------------------------------------------------


def test_move_to_chain_enters_each_stage_in_the_same_instant(driver: Driver) -> None:
    reach_evaluation(driver)

    driver.send("review.submitted", at(3), rating=1, event_id="review-1")

    complaint, care = driver.transitions[-2:]
    assert (complaint.from_stage, complaint.to_stage, complaint.cause) == (
        "evaluation",
        "complaint",
        "event:review-1",
    )
    assert (care.from_stage, care.to_stage) == ("complaint", "care")
    assert care.cause == "move_to:hand_over"
    assert complaint.at == care.at == at(3)
    assert care.stage_entry == complaint.stage_entry + 1
    assert driver.stage == "care"


def test_delayed_move_to_fires_at_its_due_time(driver: Driver) -> None:
    reach_evaluation(driver)
    driver.send("review.submitted", at(3), rating=1)
    assert driver.state is not None
    assert next_timer(driver.journey, driver.state, driver.customer) == at(3) + days(14)

    assert driver.tick(at(3) + days(13)).decisions == ()
    outcome = driver.tick(at(30))

    [moved] = of_type(outcome.decisions, Transitioned)
    assert (moved.from_stage, moved.to_stage) == ("care", "loyalty")
    assert moved.at == at(3) + days(14)  # its due time, not the time of the tick
    assert moved.cause.startswith("timer:")
    assert "back_to_loyalty" in moved.cause


def test_move_to_chain_ending_in_a_final_stage_completes_in_one_step(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    journey = journey_factory(
        """
        journey: chain
        version: 1
        name: Chain
        stages:
          - key: a
            enter_when: {event: signup.created}
            on_enter: [{move_to: b}]
          - key: b
            on_enter: [{webhook: crm_sync}, {move_to: c}]
          - key: c
            on_enter: [{email: welcome}]
            final: true
        """
    )
    d = make_driver(journey)

    outcome = d.send("signup.created", at(0))

    assert d.path == ["a", "b", "c"]
    assert [t.stage_entry for t in d.transitions] == [1, 2, 3]
    assert d.action_keys() == ["webhook", "welcome"]
    assert outcome.state is not None
    assert outcome.state.status == "completed"
    [ended] = d.ends
    assert (ended.reason, ended.at) == ("completed", at(0))


def test_the_first_move_to_whose_condition_holds_wins(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    journey = journey_factory(
        """
        journey: triage
        version: 1
        name: Triage
        stages:
          - key: inbox
            enter_when: {event: ticket.opened}
            on_enter:
              - {move_to: vip_lane, when: "customer.vip == true"}
              - {move_to: standard_lane}
          - key: vip_lane
            final: true
          - key: standard_lane
            final: true
        """
    )
    vip, regular = make_driver(journey, attributes={"vip": True}), make_driver(journey)

    vip.send("ticket.opened", at(0))
    regular.send("ticket.opened", at(0))

    assert vip.path == ["inbox", "vip_lane"]
    assert regular.path == ["inbox", "standard_lane"]


def test_of_several_pending_timers_the_earliest_fires(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    journey = journey_factory(
        """
        journey: timers
        version: 1
        name: Timers
        stages:
          - key: waiting
            enter_when: {event: signup.created}
          - key: late
            enter_when: {after: 10d, from: [waiting]}
            final: true
          - key: quiet
            enter_when: {no_event_for: 4d, from: [waiting]}
            final: true
          - key: early
            enter_when: {after: 2d, from: [waiting]}
            final: true
        """
    )
    d = make_driver(journey)
    d.send("signup.created", at(0))

    d.tick(at(30))

    assert d.path == ["waiting", "early"]
    assert d.transitions[-1].at == at(2)


# --- final stage, goal and exit ---------------------------------------------------------


def test_inactivity_moves_a_loyal_customer_to_the_final_dormant_stage(driver: Driver) -> None:
    reach_loyalty(driver, day=6)

    assert driver.tick(at(6) + days(59)).decisions == ()
    outcome = driver.tick(at(6) + days(61))

    [dormant] = of_type(outcome.decisions, Transitioned)
    assert (dormant.to_stage, dormant.at) == ("dormant", at(6) + days(60))
    assert dormant.cause.startswith("timer:")
    sms = driver.action("we_miss_you")
    assert (sms.kind, sms.due_at) == ("sms", at(66))
    [ended] = of_type(outcome.decisions, Ended)
    assert (ended.reason, ended.at) == ("completed", at(66))
    assert outcome.state is not None
    assert (outcome.state.status, outcome.state.ended_at) == ("completed", at(66))
    assert not outcome.state.active


def test_any_later_event_postpones_inactivity(driver: Driver) -> None:
    reach_loyalty(driver, day=6)

    driver.send("page.viewed", at(36))

    assert driver.tick(at(70)).decisions == ()
    assert driver.state is not None
    assert next_timer(driver.journey, driver.state) == at(36) + days(60)


def test_a_completed_enrollment_ignores_further_events(driver: Driver) -> None:
    reach_loyalty(driver, day=6)
    driver.tick(at(100))
    assert driver.state is not None
    completed = driver.state

    for event_type in ("order.completed", "review.submitted", "subscription.started"):
        outcome = driver.send(event_type, at(120), rating=5)
        assert outcome.decisions == ()
        assert outcome.state == completed


@pytest.mark.parametrize(
    ("event_type", "reason"),
    [("subscription.started", "goal"), ("account.closed", "exited")],
)
def test_goal_and_exit_end_the_enrollment_from_any_stage(
    driver: Driver, event_type: str, reason: str
) -> None:
    reach_evaluation(driver)
    request = driver.action("review_request")

    outcome = driver.send(event_type, at(3), event_id="end-1")

    [ended] = of_type(outcome.decisions, Ended)
    assert (ended.reason, ended.cause, ended.at) == (reason, "event:end-1", at(3))
    assert outcome.state is not None
    assert outcome.state.status == reason
    assert outcome.state.ended_at == at(3)
    # Pending delayed actions of the stage are dropped.
    assert driver.is_void(request)
    assert of_type(outcome.decisions, Transitioned) == []


def test_goal_with_a_condition_ends_only_when_it_holds(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    journey = journey_factory(
        POST_PURCHASE_YAML, goal={"event": "subscription.started", "where": "plan == 'annual'"}
    )
    d = make_driver(journey)
    reach_evaluation(d)

    assert d.send("subscription.started", at(3), plan="monthly").decisions == ()
    d.send("subscription.started", at(4), plan="annual")

    assert [e.reason for e in d.ends] == ["goal"]


def test_timers_that_fell_due_fire_before_a_later_event(driver: Driver) -> None:
    reach_evaluation(driver)  # delivered on day 2: after 30 days without review -> dormant

    driver.send("review.submitted", at(40), rating=5)

    assert driver.path == ["purchase", "evaluation", "dormant"]
    assert driver.transitions[-1].at == at(32)
    assert [e.reason for e in driver.ends] == ["completed"]


def test_a_late_processed_event_is_applied_at_the_time_it_occurred(driver: Driver) -> None:
    reach_evaluation(driver)

    # Reviewed on day 10, but the webhook only reached us on day 40: the 30-day timer
    # (due on day 32) must not pre-empt a review that came before it.
    driver.send("review.submitted", at(10), now=at(40), rating=5)

    assert driver.path[-1] == "loyalty"
    assert driver.transitions[-1].at == at(10)


# --- stale events -----------------------------------------------------------------------


@pytest.mark.parametrize("occurred_day", [5, 6])
def test_an_event_from_before_the_current_stage_entry_changes_nothing(
    driver: Driver, occurred_day: float
) -> None:
    reach_loyalty(driver, day=6)
    before = driver.state

    # A second order placed on day 5 (or in the very instant of the review) arrives late.
    outcome = driver.send("order.completed", at(occurred_day), now=at(7), event_id="order-2")

    assert outcome.decisions == ()
    assert outcome.state == before


def test_the_same_event_after_the_stage_entry_does_move_the_customer(driver: Driver) -> None:
    reach_loyalty(driver, day=6)

    outcome = driver.send("order.completed", at(6, m=1), event_id="order-2")

    assert outcome.state is not None
    assert outcome.state.stage == "purchase"


# --- re-entry ---------------------------------------------------------------------------


def ended_by_goal(d: Driver) -> None:
    reach_evaluation(d)
    d.send("subscription.started", at(3), event_id="goal-1")


def test_reentry_never_refuses_a_second_enrollment(driver: Driver) -> None:
    ended_by_goal(driver)

    outcome = driver.send("order.completed", at(400), event_id="order-2")

    assert outcome.decisions == ()
    assert len(driver.enrollments) == 1
    assert outcome.state is not None
    assert (outcome.state.number, outcome.state.status) == (1, "goal")


def test_reentry_after_cooldown_waits_for_the_cooldown(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    journey = journey_factory(
        POST_PURCHASE_YAML, reentry={"policy": "after_cooldown", "cooldown": "30d"}
    )
    d = make_driver(journey)
    ended_by_goal(d)

    assert d.send("order.completed", at(3) + days(30) - days(1 / 24 / 60)).decisions == ()
    outcome = d.send("order.completed", at(3) + days(30), event_id="order-2")

    [enrolled] = of_type(outcome.decisions, Enrolled)
    assert (enrolled.number, enrolled.stage, enrolled.at) == (2, "purchase", at(33))
    assert outcome.state is not None
    assert (outcome.state.number, outcome.state.stage_entry, outcome.state.status) == (
        2,
        1,
        "active",
    )


def test_reentry_always_enrolls_again_right_after_the_end(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    d = make_driver(journey_factory(POST_PURCHASE_YAML, reentry={"policy": "always"}))
    ended_by_goal(d)

    d.send("order.completed", at(3, m=1), event_id="order-2")

    assert [e.number for e in d.enrollments] == [1, 2]
    assert d.state is not None
    assert (d.state.number, d.state.stage, d.state.status) == (2, "purchase", "active")


def test_reentry_always_never_runs_two_enrollments_at_once(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    d = make_driver(journey_factory(POST_PURCHASE_YAML, reentry={"policy": "always"}))
    reach_loyalty(d)

    d.send("order.completed", at(10), event_id="order-2")

    assert len(d.enrollments) == 1
    assert d.state is not None
    assert (d.state.number, d.state.stage) == (1, "purchase")


# --- A/B variants -----------------------------------------------------------------------

AB_JOURNEY = """
journey: referral_ab
version: 1
name: Referral test
reentry: {policy: always}
stages:
  - key: invited
    enter_when: {event: order.completed}
    on_enter:
      - email: referral
        variants:
          - {key: personal, weight: 70, template: referral_personal}
          - {key: holdout, weight: 30}
    final: true
"""


def first_action(journey: Journey, customer_id: str, when: Any = None) -> ScheduledAction:
    event = make_event("order.completed", when or at(0), customer_id)
    outcome = decide(journey, None, make_customer(customer_id), event, event.occurred_at)
    [action] = of_type(outcome.decisions, ScheduledAction)
    return action


def test_ab_split_over_many_customers_follows_the_weights(
    journey_factory: Callable[..., Journey],
) -> None:
    journey = journey_factory(AB_JOURNEY)
    n = 10_000

    counts = Counter(first_action(journey, f"customer-{i}").variant for i in range(n))

    assert set(counts) == {"personal", "holdout"}
    assert abs(counts["personal"] / n - 0.70) <= 0.03
    assert abs(counts["holdout"] / n - 0.30) <= 0.03


def test_three_way_split_follows_the_weights(journey_factory: Callable[..., Journey]) -> None:
    journey = journey_factory(
        AB_JOURNEY.replace(
            "- {key: holdout, weight: 30}",
            "- {key: reward, weight: 20, template: referral_reward}\n"
            "          - {key: holdout, weight: 10}",
        )
    )
    n = 10_000

    counts = Counter(first_action(journey, f"customer-{i}").variant for i in range(n))

    for key, share in {"personal": 0.70, "reward": 0.20, "holdout": 0.10}.items():
        assert abs(counts[key] / n - share) <= 0.03, (key, counts)


def test_a_holdout_customer_gets_an_action_without_template(
    journey_factory: Callable[..., Journey],
) -> None:
    journey = journey_factory(AB_JOURNEY)
    actions = [first_action(journey, f"customer-{i}") for i in range(200)]

    holdout = [a for a in actions if a.variant == "holdout"]
    personal = [a for a in actions if a.variant == "personal"]

    assert holdout, "200 customers with a 30% holdout should contain some"
    # Still scheduled, so that the control group is on record for the A/B results.
    assert all(a.template is None and a.kind == "email" for a in holdout)
    assert all(a.template == "referral_personal" for a in personal)


def test_variant_is_the_same_on_replay_and_on_re_entry(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    journey = journey_factory(AB_JOURNEY)
    variants = []
    for i in range(50):
        d = make_driver(journey, customer_id=f"customer-{i}")
        d.send("order.completed", at(0))
        d.send("order.completed", at(40))  # the final stage ended #1; this is enrollment #2
        first, second = d.scheduled
        assert (first.number, second.number) == (1, 2)
        assert first.variant == second.variant
        assert first.variant == first_action(journey, f"customer-{i}", at(99)).variant
        variants.append(first.variant)
    assert len(set(variants)) == 2  # both arms occur, so the equality above means something


# --- idempotency keys -------------------------------------------------------------------


def script(d: Driver) -> None:
    reach_loyalty(d)
    d.send("order.completed", at(20), event_id="order-2")  # back to purchase
    d.send("order.delivered", at(22), event_id="delivery-2")
    d.tick(at(200))


def test_idempotency_keys_differ_across_stage_entries(driver: Driver) -> None:
    script(driver)

    thank_yous = [a for a in driver.scheduled if a.action_key == "thank_you"]
    requests = [a for a in driver.scheduled if a.action_key == "review_request"]

    assert len(thank_yous) == len(requests) == 2
    assert thank_yous[0].idempotency_key != thank_yous[1].idempotency_key
    assert requests[0].idempotency_key != requests[1].idempotency_key
    keys = [a.idempotency_key for a in driver.scheduled]
    assert len(keys) == len(set(keys))


def test_idempotency_keys_differ_across_enrollments(
    make_driver: DriverFactory, journey_factory: Callable[..., Journey]
) -> None:
    d = make_driver(journey_factory(POST_PURCHASE_YAML, reentry={"policy": "always"}))
    ended_by_goal(d)
    d.send("order.completed", at(10), event_id="order-2")

    first, second = [a for a in d.scheduled if a.action_key == "thank_you"]

    assert (first.number, second.number) == (1, 2)
    assert (first.stage_entry, second.stage_entry) == (1, 1)
    assert first.idempotency_key != second.idempotency_key


def test_idempotency_keys_are_stable_across_replays(make_driver: DriverFactory) -> None:
    original, replay, other_customer = make_driver(), make_driver(), make_driver(customer_id="c2")
    for d in (original, replay, other_customer):
        script(d)

    assert [a.idempotency_key for a in replay.scheduled] == [
        a.idempotency_key for a in original.scheduled
    ]
    assert replay.log == original.log
    assert not {a.idempotency_key for a in other_customer.scheduled} & {
        a.idempotency_key for a in original.scheduled
    }


def test_replaying_applied_events_adds_no_decisions(driver: Driver) -> None:
    script(driver)
    final_state, decisions = driver.state, len(driver.log)

    for event in list(driver.applied):
        outcome = driver.apply(event, now=at(300))
        assert outcome.decisions == (), event
        assert outcome.state == final_state

    assert len(driver.log) == decisions


def test_an_exit_that_arrives_late_still_ends_the_enrollment(driver: Driver) -> None:
    reach_evaluation(driver)  # entered evaluation on day 2
    request = driver.action("review_request")

    # The account was closed on day 1, but the CRM's webhook only came after the delivery.
    outcome = driver.send("account.closed", at(1), event_id="closed-late")

    [ended] = of_type(outcome.decisions, Ended)
    assert ended.reason == "exited"
    # Recorded at the end of the history, so that it stays in time order.
    assert ended.at == at(2)
    assert driver.is_void(request)
    # Delivered again, it changes nothing.
    assert driver.send("account.closed", at(1), event_id="closed-late").decisions == ()


def test_an_exit_from_before_the_enrollment_began_is_ignored(driver: Driver) -> None:
    driver.send("order.completed", at(5))

    outcome = driver.send("account.closed", at(4))

    assert outcome.decisions == ()
    assert driver.ends == []


def test_leaving_after_an_action_fell_due_does_not_void_it(driver: Driver) -> None:
    reach_evaluation(driver)  # delivered on day 2: review request due on day 5
    request = driver.action("review_request")

    driver.send("review.submitted", at(6), rating=5)  # left evaluation on day 6

    assert driver.path[-1] == "loyalty"
    assert not driver.is_void(request)
    [left] = [x for x in driver.left if x.stage == "evaluation"]
    assert request.idempotency_key not in left.void


@pytest.mark.parametrize(
    ("locale", "prefix"),
    [
        ("de", "DANKE"),
        ("de-AT", "SERVUS"),
        ("de_CH", "DANKE"),
        ("en-GB", "THANKS"),
        ("fr", "THANKS"),  # the journey writes in English by default
        (None, "THANKS"),
    ],
)
def test_a_promo_code_prefix_per_language_is_decided_by_the_customers_locale(
    make_driver: DriverFactory, locale: str | None, prefix: str
) -> None:
    per_language = "prefix: {de: DANKE, de-AT: SERVUS, en: THANKS}"
    assert "prefix: REVIEW" in POST_PURCHASE_YAML
    journey = build_journey(POST_PURCHASE_YAML.replace("prefix: REVIEW", per_language))
    d = make_driver(journey, locale=locale)

    reach_evaluation(d)

    assert d.action("review_request").params["promo_code"]["prefix"] == prefix
