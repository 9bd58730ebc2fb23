"""The population generator, without a store: deterministic for a seed, every event
one the tracking plan takes, people acting in their own daytime, delays as the model
says, and personas in their shares."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from scipy.stats import chisquare

from flows.simulation.model import SHIPPED_MODEL, BehaviourModel, load_model, parse_model
from flows.simulation.population import Population
from journeys.config import SHIPPED_DEFINITIONS
from journeys.decisions import Ended, Transitioned
from journeys.tracking import TrackingPlan, check_event_data, load_plan

DAY = timedelta(days=1)


@pytest.fixture(scope="module")
def model() -> BehaviourModel:
    return load_model(SHIPPED_MODEL)[0]


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    found = load_plan(SHIPPED_DEFINITIONS)
    assert found is not None
    return found


def _drain(population: Population, days: int, step: timedelta = timedelta(hours=6)) -> list:
    """Everything the population does, tick by tick: newcomers, events, consent."""
    out = []
    moment = population.start
    while moment < population.start + DAY * days:
        moment += step
        came = population.arrivals(moment)
        events, consent = population.due(moment)
        out.append((moment, came, events, consent))
    return out


def _events(population: Population, days: int) -> list:
    return [e for _, _, events, _ in _drain(population, days) for e in events]


def test_the_same_seed_makes_the_same_population_and_another_seed_another(
    model: BehaviourModel,
) -> None:
    first = _drain(Population(model, 60, 20, seed=3), 20)
    again = _drain(Population(model, 60, 20, seed=3), 20)
    other = _drain(Population(model, 60, 20, seed=4), 20)

    assert first == again
    assert first != other


def test_a_customers_life_does_not_depend_on_the_tick(model: BehaviourModel) -> None:
    """Without stage reactions (no engine here), what a customer does is the same whether
    the clock moves by hours or by days: only their own draws decide it."""
    hourly = _events(Population(model, 40, 15, seed=9), 15)
    daily = [
        e for _, _, events, _ in _drain(Population(model, 40, 15, seed=9), 15, DAY) for e in events
    ]

    def key(e):
        return (e.customer_id, e.external_id)

    assert sorted(hourly, key=key) == sorted(daily, key=key)


def test_every_event_is_one_the_tracking_plan_takes(
    model: BehaviourModel, plan: TrackingPlan
) -> None:
    events = _events(Population(model, 200, 30, seed=1), 30)

    assert len(events) > 200
    for event in events:
        assert event.type in plan.events, event
        assert check_event_data(plan, event.type, event.data) == [], event


def test_events_come_in_time_order_within_the_simulated_days(model: BehaviourModel) -> None:
    population = Population(model, 100, 20, seed=2)
    for moment, _, events, _ in _drain(population, 20):
        times = [e.occurred_at for e in events]
        assert times == sorted(times)
        assert all(moment - timedelta(hours=6) <= t < moment for t in times)
    assert population.pending >= 0


def test_people_act_in_their_own_active_hours(model: BehaviourModel) -> None:
    population = Population(model, 150, 20, seed=5)
    zones: dict[str, ZoneInfo] = {}
    for _, came, events, _ in _drain(population, 20):
        zones.update({c.external_id: ZoneInfo(c.fields["timezone"]) for c in came})
        for event in events:
            local = event.occurred_at.astimezone(zones[event.customer_id]).time()
            opens, closes = model.active_hours
            assert opens <= local < closes, (event, local)


def test_a_follow_up_comes_after_its_cause_within_the_rules_delay() -> None:
    """One rule with p = 1 and a range inside the active day: every delivery follows its
    order by 2 to 5 hours, with the order's id."""
    model, _ = parse_model(
        """
active_hours: "00:00-23:59"
defaults:
  profiles: [{locale: de, country: DE, timezone: UTC}]
personas:
  - key: buyer
    share: 1
    starts_with: {event: order.completed, data: {order_id: "o-{customer}-{n}"}}
    behaviour:
      - {after: order.completed, then: order.delivered, in: 2h..5h, keep: [order_id]}
"""
    )
    events = _events(Population(model, 50, 10, seed=8), 10)
    orders = {e.data["order_id"]: e for e in events if e.type == "order.completed"}
    deliveries = [e for e in events if e.type == "order.delivered"]

    assert len(orders) == 50
    assert all(order_id == f"o-{e.customer_id}-1" for order_id, e in orders.items())
    for delivery in deliveries:
        order = orders[delivery.data["order_id"]]
        assert order.customer_id == delivery.customer_id
        assert timedelta(hours=2) <= delivery.occurred_at - order.occurred_at <= timedelta(hours=5)
    # Only a delivery that may have fallen after the last day is missing.
    end = datetime(2026, 9, 11, tzinfo=UTC)
    delivered = {d.data["order_id"] for d in deliveries}
    missing = [o for order_id, o in orders.items() if order_id not in delivered]
    assert all(o.occurred_at + timedelta(hours=5) >= end for o in missing)


def test_a_stage_entered_is_a_cause_the_model_follows() -> None:
    model, _ = parse_model(
        """
active_hours: "00:00-23:59"
defaults:
  profiles: [{locale: de, country: DE, timezone: UTC}]
personas:
  - key: reviewer
    share: 1
    starts_with: {event: order.completed}
    behaviour:
      - after_stage: customer_lifecycle.evaluation
        then: review.submitted
        in: 1h
        data: {rating: 5}
"""
    )
    population = Population(model, 3, 5, seed=1)
    population.arrivals(population.start + 5 * DAY)
    entered = population.start + DAY
    customer = population.external_id(1)
    population.observe(
        [
            Transitioned(
                "customer_lifecycle",
                customer,
                1,
                "receiving_offer",
                "evaluation",
                3,
                "timer",
                entered,
            )
        ]
    )
    events, _ = population.due(population.start + 5 * DAY)

    reviews = [e for e in events if e.type == "review.submitted"]
    assert [(e.customer_id, e.occurred_at, e.data) for e in reviews] == [
        (customer, entered + timedelta(hours=1), {"rating": 5})
    ]


CART_MODEL = """
active_hours: "00:00-23:59"
defaults:
  profiles: [{locale: de, country: DE, timezone: UTC}]
personas:
  - key: shopper
    share: 1
    starts_with:
      event: cart.updated
      data: {cart_id: "c-{customer}", item_count: 1, total: {choose: [39.9, 89.0, 1299.0]}}
    behaviour:
      - after_stage: abandoned_cart.reminded
        then: order.completed
        in: 1h
        keep: [total]
        data: {order_id: "o-{customer}-{n}"}
"""


def _entered(population: Population, event, stage: str, entry: int, cause: str, at: datetime):
    came_from = {"cart": None, "reminded": "cart"}.get(stage, "cart")
    return Transitioned("abandoned_cart", event.customer_id, 1, came_from, stage, entry, cause, at)


@pytest.mark.parametrize(
    ("cause", "kept"),
    [
        ("timer:after:4h", True),  # a wait carries the event of the stage waited in
        ("move_to:0", False),  # a move carries none
    ],
)
def test_a_stage_s_rule_reads_the_event_that_entered_it(cause: str, kept: bool) -> None:
    """The reminder's stage is entered by a wait: the order that follows it keeps the
    total of the cart the customer waited with, each customer their own."""
    model, _ = parse_model(CART_MODEL)
    population = Population(model, 30, 3, seed=4)
    population.arrivals(population.start + 3 * DAY)
    carts, _ = population.due(population.start + 2 * DAY)
    assert len({c.data["total"] for c in carts}) > 1, "the carts differ"
    population.observe(
        [_entered(population, c, "cart", 1, f"event:{c.event_id}", c.occurred_at) for c in carts]
    )
    later = population.start + 2 * DAY
    population.observe([_entered(population, c, "reminded", 2, cause, later) for c in carts])
    events, _ = population.due(population.start + 3 * DAY)
    orders = [e for e in events if e.type == "order.completed"]

    cart_of = {c.customer_id: c.data["total"] for c in carts}
    assert sorted(o.customer_id for o in orders) == sorted(cart_of)
    for order in orders:
        assert order.occurred_at == later + timedelta(hours=1)
        assert ("total" in order.data) is kept
        if kept:
            assert order.data["total"] == cart_of[order.customer_id]


def test_an_ended_enrollment_lets_go_of_its_stage_s_event() -> None:
    model, _ = parse_model(CART_MODEL)
    population = Population(model, 10, 3, seed=4)
    population.arrivals(population.start + 3 * DAY)
    carts, _ = population.due(population.start + 2 * DAY)
    population.observe(
        [_entered(population, c, "cart", 1, f"event:{c.event_id}", c.occurred_at) for c in carts]
    )
    assert population.carried == len(carts) > 0
    population.observe(
        [Ended("abandoned_cart", c.customer_id, 1, "goal", "event:x", c.occurred_at) for c in carts]
    )
    assert population.carried == 0


def test_personas_and_consent_come_in_their_shares(model: BehaviourModel) -> None:
    """Over 3,000 customers the first events' personas and the email consent follow the
    model's shares (chi-square against the expected counts; fixed seed, so it cannot
    flicker)."""
    n = 3000
    population = Population(model, n, 30, seed=11)
    came = population.arrivals(population.end)
    first_types = Counter(population.persona_of(i).key for i in range(n))
    shares = {p.key: p.share for p in model.personas}
    total = sum(shares.values())
    keys = sorted(shares)
    assert (
        chisquare([first_types[k] for k in keys], [n * shares[k] / total for k in keys]).pvalue
        > 1e-4
    )

    email = Counter(
        next((r.status for r in c.consent if r.channel == "email"), "none") for c in came
    )
    mix = model.defaults.consent.email
    total = sum(mix.values())
    keys = sorted(mix)
    assert chisquare([email[k] for k in keys], [n * mix[k] / total for k in keys]).pvalue > 1e-4
