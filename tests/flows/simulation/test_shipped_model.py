"""The shipped behaviour model drives every shipped journey: a run of the demo's
journeys reaches every stage of each, through the production engine and store."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows.demo_journeys import DEMO_JOURNEYS
from flows.simulation.model import BehaviourModel
from flows.simulation.results import Results
from flows.simulation.run import Cadence
from flows.simulation.simulate import Plan, simulate
from journeys.model import Journey


@pytest.fixture(scope="module")
def run(shipped_journeys: dict[str, Journey], model: BehaviourModel) -> Results:
    """1,000 customers over 120 days. Why 120: the lifecycle's dormant stage comes 60
    silent days after the recommendation, itself 21 days after loyalty, so at the
    earliest about 89 days after a customer's first event; a 90-day run reaches it only
    for the first day's customers (3 of 10,000 in the default run). 120 days give a
    month of customers the time, and every other stage is reached within days."""
    journeys = [shipped_journeys[key] for key in DEMO_JOURNEYS]
    plan = Plan(journeys, model, customers=1000, days=120, cadence=Cadence(timedelta(hours=6)))
    return simulate(plan)


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
