"""`ab_results`: every A/B test of the stored journeys with its figures and decision,
checked against the population's plan and statsmodels, on both databases."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

import pytest
from ab_factory import WITHIN, Person, ab_journey, around_the_window, build
from sqlalchemy import Engine
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from journeys.abverdict import AbTestResult
from journeys.errors import UnknownJourneyError
from journeys.model import Journey
from journeys.store import JourneyRegistry, session_scope
from journeys.store.abtests import ab_results
from journeys.types import parse_duration

RATES = {"bonus": 0.7, "plain": 0.2, "holdout": 0.1}


def results(engine: Engine, journey: str | None = "welcome_ab", **kw: object) -> list[AbTestResult]:
    with session_scope(engine, readonly=True) as session:
        return ab_results(session, journey, **kw)  # type: ignore[arg-type]


def clear_winner(rng: random.Random, person: Person, metric: str) -> datetime | None:
    """Bonus converts far more often than plain, plain more than the holdout."""
    if metric != "goal" or person.variant is None:
        return around_the_window(rng, person, metric)
    return person.due + timedelta(days=1) if rng.random() < RATES[person.variant] else None


def test_a_small_sample_says_not_yet_and_how_many_more(engine: Engine) -> None:
    population = build(engine, ab_journey(), 120)
    (result,) = results(engine)
    expected = population.expected("goal")
    got = {a.variant: (a.recipients, a.conversions) for a in result.arms}
    assert got == expected
    short = {k: 500 - n for k, (n, _) in expected.items()}
    assert result.decision.status == "not_yet"
    assert result.decision.winner is None
    assert result.decision.more_needed == sum(short.values())
    assert f"{sum(short.values()):,} more recipients needed" in result.decision.text
    assert {a.variant: a.short_of_min_sample for a in result.arms} == short
    assert [a.variant for a in result.arms] == ["plain", "bonus", "holdout"]  # as declared


def test_a_large_clear_winner_is_called(engine: Engine) -> None:
    fates = {"recipient": 1.0}
    population = build(engine, ab_journey(min_sample=40), 300, fates=fates, plan=clear_winner)
    (result,) = results(engine)
    expected = population.expected("goal")
    assert {a.variant: (a.recipients, a.conversions) for a in result.arms} == expected
    assert min(n for n, _ in expected.values()) >= 40
    assert result.decision.status == "winner"
    assert result.decision.winner == "bonus"
    assert result.decision.text.startswith("winner: bonus")
    arms = {a.variant: a for a in result.arms}
    assert arms["bonus"].probability_to_be_best is not None
    assert arms["bonus"].probability_to_be_best >= 0.9
    # The figures are statsmodels' for the same counts.
    n, c = expected["bonus"]
    nh, ch = expected["holdout"]
    low, high = proportion_confint(c, n, alpha=0.05, method="wilson")
    assert (arms["bonus"].rate_low, arms["bonus"].rate_high) == pytest.approx((low, high))
    vs = arms["bonus"].vs_holdout
    assert vs is not None and vs.against == "holdout"
    assert vs.absolute == pytest.approx(c / n - ch / nh)
    low, high = confint_proportions_2indep(c, n, ch, nh, compare="diff", method="newcomb")
    assert (vs.absolute_low, vs.absolute_high) == pytest.approx((low, high))
    low, high = confint_proportions_2indep(c, n, ch, nh, compare="ratio", method="log")
    assert (vs.relative_low, vs.relative_high) == pytest.approx((low - 1, high - 1))
    assert arms["holdout"].vs_holdout is None
    assert {o.against for o in arms["plain"].vs_others} == {"bonus", "holdout"}


def test_the_result_is_json(engine: Engine) -> None:
    build(engine, ab_journey(metric={"event": "review.submitted"}), 40)
    (result,) = results(engine)
    data = json.loads(json.dumps(result.model_dump(mode="json")))
    assert data["metric"] == "event:review.submitted"
    assert parse_duration(data["within"]) == WITHIN
    assert data["decision"]["status"] == "not_yet"
    assert AbTestResult.model_validate(data) == result


def test_on_clicks_the_holdout_is_shown_but_not_in_the_contest(engine: Engine) -> None:
    population = build(engine, ab_journey(metric="click"), 60)
    (result,) = results(engine)
    arms = {a.variant: a for a in result.arms}
    assert arms["holdout"].recipients == population.expected("click")["holdout"][0] > 0
    assert arms["holdout"].conversions == 0
    assert arms["holdout"].probability_to_be_best is None
    assert arms["plain"].vs_holdout is None
    chances = [arms[k].probability_to_be_best for k in ("plain", "bonus")]
    assert sum(p for p in chances if p is not None) == pytest.approx(1)
    assert result.decision.more_needed == sum(500 - arms[k].recipients for k in ("plain", "bonus"))


def test_a_period_and_the_journeys_asked_for(engine: Engine, make_journey: object) -> None:
    population = build(engine, ab_journey(), 80)
    dues = sorted(p.due for p in population.people)
    (result,) = results(engine, since=dues[10], until=dues[50])
    got = {a.variant: (a.recipients, a.conversions) for a in result.arms}
    assert got == population.expected("goal", WITHIN, dues[10], dues[50])
    assert result.since == dues[10] and result.until == dues[50]
    with pytest.raises(UnknownJourneyError, match="welcome_ab"):
        results(engine, "welcome_abc")
    assert [r.journey for r in results(engine, None)] == ["welcome_ab"]


def test_without_a_block_the_defaults_judge_and_a_dropped_variant_is_retired(
    engine: Engine,
) -> None:
    build(engine, ab_journey(), 60)
    data = ab_journey().model_dump(mode="json", by_alias=True, exclude_none=True)
    action = data["stages"][0]["on_enter"][0]
    del action["ab_test"]
    action["variants"] = [v for v in action["variants"] if v["key"] != "plain"]
    v2 = Journey.model_validate({**data, "version": 2})
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [v2])
    (result,) = results(engine)
    assert (result.metric, result.min_sample, result.threshold) == ("goal", 500, 0.9)
    assert parse_duration(result.within) == timedelta(days=14)
    arms = {a.variant: a for a in result.arms}
    assert list(arms) == ["bonus", "holdout", "plain"]
    assert arms["plain"].retired and arms["plain"].recipients > 0
    assert arms["plain"].probability_to_be_best is None
    assert arms["plain"].short_of_min_sample == 0


def test_a_journey_without_a_goal_judges_its_test_on_clicks(engine: Engine) -> None:
    data = ab_journey().model_dump(mode="json", by_alias=True, exclude_none=True)
    del data["goal"], data["stages"][0]["on_enter"][0]["ab_test"]
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [Journey.model_validate(data)])
    (result,) = results(engine)
    assert result.metric == "click"
    assert [(a.variant, a.recipients) for a in result.arms] == [
        ("plain", 0),
        ("bonus", 0),
        ("holdout", 0),
    ]
    # Two variants can be clicked, the holdout cannot: 500 each still to come.
    assert result.decision.more_needed == 1000
