"""The shipped behaviour model drives every shipped journey: a run of the demo's
journeys reaches every stage of each, through the production engine and store."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from flows.demo_journeys import DEMO_JOURNEYS
from flows.simulation.model import BehaviourModel
from flows.simulation.results import Results
from flows.simulation.run import Cadence
from flows.simulation.simulate import Plan, simulate
from journeys.model import Journey


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shipped") / "simulated.db"


@pytest.fixture(scope="module")
def run(shipped_journeys: dict[str, Journey], model: BehaviourModel, store: Path) -> Results:
    """1,000 customers over 120 days. Why 120: the lifecycle's dormant stage comes 60
    silent days after the recommendation, itself 21 days after loyalty, so at the
    earliest about 89 days after a customer's first event; a 90-day run reaches it only
    for the first day's customers (3 of 10,000 in the default run). 120 days give a
    month of customers the time, and every other stage is reached within days."""
    journeys = [shipped_journeys[key] for key in DEMO_JOURNEYS]
    plan = Plan(journeys, model, customers=1000, days=120, cadence=Cadence(timedelta(hours=6)))
    return simulate(plan, database=store)


def test_every_stage_of_every_shipped_journey_is_reached(run: Results) -> None:
    entered = {(s.journey, s.stage): s.entered for s in run.report.stages}
    assert {journey for journey, _ in entered} == set(DEMO_JOURNEYS)
    assert [stage for stage, n in entered.items() if n == 0] == []


def test_every_shipped_journey_sends_its_messages(run: Results) -> None:
    sent = {(c.journey, c.what) for c in run.sent}
    for wanted in [
        ("abandoned_cart", "cart_reminder"),
        ("birthday_club", "birthday_greeting"),
        ("event_registration", "event_invitation"),
        ("event_registration", "registration_confirmation"),
        ("event_registration", "registration_changed"),
        ("event_registration", "registration_cancelled"),
        ("event_registration", "event_reminder"),
        ("event_registration", "event_feedback"),
        ("event_registration", "event_recording"),
    ]:
        assert wanted in sent, wanted
    assert not run.failed, "every template renders with the model's data"


# For every reminder: the cart it showed (the last cart.updated before it) and the
# customer's first order after it.
_AFTER_REMINDERS = text(
    """
    WITH reminded AS (
        SELECT c.external_id AS customer, t.at FROM stage_transition t
        JOIN customer c ON c.id = t.customer_id
        WHERE t.journey = 'abandoned_cart' AND t.to_stage = 'reminded'
    )
    SELECT
        (SELECT e.payload FROM inbound_event e WHERE e.customer_id = r.customer
         AND e.type = 'cart.updated' AND e.occurred_at <= r.at
         ORDER BY e.occurred_at DESC LIMIT 1),
        (SELECT e.payload FROM inbound_event e WHERE e.customer_id = r.customer
         AND e.type = 'order.completed' AND e.occurred_at > r.at
         ORDER BY e.occurred_at LIMIT 1)
    FROM reminded r
    """
)


def test_an_order_after_the_reminder_orders_the_cart_it_showed(run: Results, store: Path) -> None:
    """The model's reminder rule keeps the items and total of the cart.updated the
    customer waited with: what comes back is the cart, not a new draw."""
    engine = create_engine(f"sqlite:///{store}")
    with engine.connect() as conn:
        rows = [
            (json.loads(cart), json.loads(order))
            for cart, order in conn.execute(_AFTER_REMINDERS)
            if order
        ]
    engine.dispose()

    assert len(rows) >= 10, "enough reminders bring customers back for the check to mean something"
    assert len({cart["total"] for cart, _ in rows}) > 1
    for cart, order in rows:
        assert (order["items"], order["total"]) == (cart["items"], cart["total"])
