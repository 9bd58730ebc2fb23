"""What simulated customers do with their messages (the model's `messages:`): what the
model says they do is what the report counts, through the store's own records."""

from __future__ import annotations

import math
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from flows.simulation.model import BehaviourModel, ModelError, parse_model
from flows.simulation.model_check import check_model
from flows.simulation.model_messages import MessageModel
from flows.simulation.results import Results
from flows.simulation.run import Cadence
from flows.simulation.simulate import Plan, simulate
from journeys.model import Journey
from journeys.tracking import TrackingPlan

# 600 customers over 40 days: laptop buyers reach customer care and its CSAT survey.
SIZE: dict[str, Any] = {"customers": 600, "days": 40, "cadence": Cadence(timedelta(hours=6))}


def _run(
    tmp: Path, journeys: list[Journey], model: BehaviourModel, size: Any = SIZE, **messages: Any
) -> Results:
    changed = model.model_copy(update={"messages": MessageModel(**messages) if messages else None})
    return simulate(Plan(journeys, changed, seed=5, **size), database=tmp / "s.db")


def _rows(results: Results) -> list[Any]:
    return [m for m in results.report.messages if m.channel in ("email", "sms") and m.sent]


def test_every_message_answered_as_the_model_says_is_counted(
    tmp_path: Path, demo_set: list[Journey], model: BehaviourModel
) -> None:
    """Everything delivered, every email opened, none clicked but the referral reward
    (the lifecycle's A/B test on clicks: its other arm), every survey answered with a 5:
    the report's rates, CSAT and the A/B counts are those."""
    results = _run(
        tmp_path,
        demo_set,
        model,
        delivered=1.0,
        opened={"default": 1.0},
        clicked={"default": 0.0, "referral_reward": 1.0},
        surveys={"csat_survey": "csat"},
        answered={"default": 1.0},
        scores={"csat": [5]},
    )
    rows = _rows(results)
    assert sum(m.sent for m in rows) > 100
    for m in rows:
        assert m.delivered == m.sent, m
        assert m.opened <= (m.delivered if m.channel == "email" else 0), m
        assert m.clicked == 0 or m.template == "referral_reward", m
    # Every email is opened, up to 30 hours after its delivery: those of the last day
    # may be opened after the period the report counts.
    emails = [m for m in rows if m.channel == "email"]
    assert sum(m.opened for m in emails) >= 0.97 * sum(m.delivered for m in emails)
    # Every survey is answered, 2 to 48 hours after it was sent: all of those sent two
    # days before the end at least.
    surveys = sum(m.sent for m in rows if m.template == "csat_survey")
    with sqlite3.connect(tmp_path / "s.db") as db:
        [(early,)] = db.execute(
            "SELECT count(*) FROM action_run WHERE template = 'csat_survey'"
            " AND status = 'sent' AND send_started_at <= ?",
            ((results.report.until - timedelta(days=2)).strftime("%Y-%m-%d %H:%M:%S"),),
        ).fetchall()
    [overall] = [c for c in results.report.csat if c.journey is None]
    assert 5 < early <= overall.answers <= surveys
    assert (overall.satisfied, overall.csat_pct) == (overall.answers, 100.0)
    [test] = results.abtests
    arms = {a.variant: (a.recipients, a.conversions) for a in test.arms}
    assert test.metric == "click" and arms["personal"][0] > 0 and arms["reward"][0] > 0
    assert arms["personal"][1] == arms["holdout"][1] == 0 < arms["reward"][1]


def test_shares_come_out_near_the_model_s(
    tmp_path: Path, demo_set: list[Journey], model: BehaviourModel
) -> None:
    """A half of the delivered emails opened, a fifth of those clicked: over every email
    of the run, within four standard deviations of a fair draw (a fixed seed)."""
    results = _run(tmp_path, demo_set, model, opened={"default": 0.5}, clicked={"default": 0.2})
    emails = [m for m in _rows(results) if m.channel == "email"]
    delivered = sum(m.delivered for m in emails)
    opened = sum(m.opened for m in emails)
    clicked = sum(m.clicked for m in emails)
    assert delivered > 200
    assert abs(opened - delivered / 2) < 4 * math.sqrt(delivered / 4)
    assert abs(clicked - opened / 5) < 4 * math.sqrt(opened * 0.16)


def test_without_messages_nothing_is_reported_back(
    tmp_path: Path, demo_set: list[Journey], model: BehaviourModel
) -> None:
    results = _run(tmp_path, demo_set, model, {**SIZE, "customers": 300})
    rows = _rows(results)
    assert sum(m.sent for m in rows) > 100
    assert sum(m.delivered + m.opened + m.clicked for m in rows) == 0
    assert results.report.csat == []
    assert all(a.conversions == 0 for t in results.abtests for a in t.arms)


MODEL = """\
defaults:
  profiles: [{locale: de, country: DE, timezone: Europe/Berlin}]
personas:
  - key: buyer
    share: 1
    starts_with: {event: order.completed}
messages:
  opened: {default: 0.4, thank_yu: 0.7}
  surveys: {csat_survey: csat}
  scores: {csat: [4, 5]}
"""


def _problems(text: str, plan: TrackingPlan, journeys: list[Journey]) -> list[Any]:
    try:
        model, spots = parse_model(text, "m.yaml")
        check_model(model, plan, journeys, spots, "m.yaml")
    except ModelError as exc:
        return [(p.line, p.field, p.message) for p in exc.problems]
    return []


@pytest.mark.parametrize(
    ("change", "line", "field", "says"),
    [
        (("", ""), 8, "messages.opened.thank_yu", "no journey sends a template 'thank_yu'"),
        (("[4, 5]", "[4, 6]"), 10, "messages.scores", "a csat score is 1 to 5, not 6"),
        (
            ("{csat: [4, 5]}", "{nps: [4, 5]}"),
            10,
            "messages.scores",
            "surveys of kind csat need scores",
        ),
        (("0.4", "1.5"), 8, "messages.opened.default", "less than or equal to 1"),
    ],
)
def test_a_messages_part_that_does_not_fit_names_line_and_field(
    plan: TrackingPlan,
    shipped_journeys: dict[str, Journey],
    change: tuple[str, str],
    line: int,
    field: str,
    says: str,
) -> None:
    problems = _problems(MODEL.replace(*change), plan, list(shipped_journeys.values()))

    assert len(problems) == 1, problems
    got_line, got_field, message = problems[0]
    assert (got_line, got_field) == (line, field)
    assert says in message


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    from journeys.config import SHIPPED_DEFINITIONS
    from journeys.tracking import load_plan

    found = load_plan(SHIPPED_DEFINITIONS)
    assert found is not None
    return found
