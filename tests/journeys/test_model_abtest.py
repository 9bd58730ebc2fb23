"""The `ab_test:` block of the journey language: defaults, errors that name the field,
garbage refused as a journey error, and definitions without it unchanged."""

from __future__ import annotations

import json
import textwrap
from datetime import timedelta
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from jf_factories import T0, Driver, of_type
from jsonschema import Draft202012Validator

from journeys.decisions import ScheduledAction
from journeys.errors import JourneyError
from journeys.loader import parse_journey
from journeys.model import AbEventMetric, Journey
from journeys.schema import json_schema
from journeys.store.registry import canonical_definition
from journeys.validate import check_graph, load_journeys

BASE = """\
journey: welcome
version: 1
name: Welcome
{goal}
stages:
  - key: signup
    enter_when: [{{event: signup.done}}]
    on_enter:
      - email: welcome
        variants:
          - {{key: plain, template: welcome_plain}}
          - {{key: holdout}}
{block}
"""


def source(block: str = "", goal: str = "goal: {event: order.completed}") -> str:
    return BASE.format(goal=goal, block=textwrap.indent(block, " " * 8) if block else "")


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(JourneyError) as caught:
        parse_journey(text)
    return [(p.field, p.message) for p in caught.value.problems]


def test_the_defaults_are_klaviyos() -> None:
    journey, _ = parse_journey(source("ab_test: {}"))
    test = journey.stages[0].on_enter[0].ab_test  # type: ignore[union-attr]
    assert test is not None
    assert (test.metric, test.within, test.min_sample, test.probability_to_be_best) == (
        "goal",
        timedelta(days=14),
        500,
        0.9,
    )


def test_every_field_can_be_declared() -> None:
    block = "ab_test: {metric: {event: referral.sent}, within: 30d, min_sample: 2000,\n"
    block += "          probability_to_be_best: 0.95}"
    journey, _ = parse_journey(source(block))
    test = journey.stages[0].on_enter[0].ab_test  # type: ignore[union-attr]
    assert test is not None
    assert test.metric == AbEventMetric(event="referral.sent")
    assert test.metric_name == "event:referral.sent"
    assert (test.within, test.min_sample, test.probability_to_be_best) == (
        timedelta(days=30),
        2000,
        0.95,
    )


FIELD = "stages.0.on_enter.0.ab_test"


@pytest.mark.parametrize(
    ("block", "field", "words"),
    [
        ("ab_test: {metric: clicks}", "metric", "'goal', 'click' or 'redemption'"),
        ("ab_test: {metric: 3}", "metric", "goal, click, redemption or {event: <type>}"),
        ("ab_test: {metric: {event: Order}}", "metric.event", "dotted lower-case"),
        ("ab_test: {metric: {evnt: a.b}}", "metric.evnt", "did you mean 'event'"),
        ("ab_test: {within: 3}", "within", "a duration is a string"),
        ("ab_test: {within: 0d}", "within", "longer than zero"),
        ("ab_test: {min_sample: 0}", "min_sample", "greater than or equal to 1"),
        ("ab_test: {min_sample: '500'}", "min_sample", "valid integer"),
        ("ab_test: {min_sample: true}", "min_sample", "valid integer"),
        ("ab_test: {probability_to_be_best: 1}", "probability_to_be_best", "less than 1"),
        ("ab_test: {probability_to_be_best: 0.3}", "probability_to_be_best", "0.5"),
        ("ab_test: {probability_to_be_best: yes}", "probability_to_be_best", "valid number"),
        ("ab_test: {mteric: goal}", "mteric", "did you mean 'metric'"),
        ("ab_test: goal", "", "valid dictionary"),
    ],
)
def test_a_bad_block_names_its_field(block: str, field: str, words: str) -> None:
    found = problems(source(block))
    where = f"{FIELD}.{field}" if field else FIELD
    assert any(f == where and words in m for f, m in found), found


def test_a_test_needs_variants() -> None:
    text = source().replace(
        "        variants:\n          - {key: plain, template: welcome_plain}\n"
        "          - {key: holdout}\n",
        "        ab_test: {min_sample: 100}\n",
    )
    assert problems(text) == [
        (FIELD, "an A/B test needs 'variants' (two or more) on the same action")
    ]


def test_the_goal_metric_needs_a_goal() -> None:
    text = source("ab_test: {min_sample: 100}", goal="")
    journey, spots = parse_journey(text)
    found = [(p.field, p.message, p.line) for p in check_graph(journey, spots, "w.yaml")]
    assert any(
        f == f"{FIELD}.metric" and "has no 'goal:'" in m and line == 13 for f, m, line in found
    ), found
    clicks, spots = parse_journey(source("ab_test: {metric: click}", goal=""))
    assert not [p for p in check_graph(clicks, spots, "w.yaml") if p.field.startswith(FIELD)]


values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["metric", "within", "min_sample", "probability_to_be_best", "x"]),
        values,
        max_size=4,
    )
)
def test_garbage_in_a_block_is_a_journey_error(block: dict[str, Any]) -> None:
    text = source("ab_test: " + json.dumps(block, allow_nan=True))
    try:
        parse_journey(text)
    except JourneyError as exc:
        assert exc.problems
        # Each names the block's field, or (a character YAML reads but cannot keep) its line.
        assert all(p.field.startswith(FIELD) or p.line == 13 for p in exc.problems), exc.problems


def test_definitions_without_a_block_keep_their_checksum() -> None:
    # No 'ab_test' key at all in what is hashed: definitions stored before the block
    # existed hash as they did then.
    for journey in load_journeys():
        assert "ab_test" not in json.dumps(canonical_definition(journey))
    journey, _ = parse_journey(source("ab_test: {min_sample: 100}"))
    stored = canonical_definition(journey)["stages"][0]["on_enter"][0]
    assert stored["ab_test"]["min_sample"] == 100  # changing it is a new version


def test_the_block_is_not_a_parameter_of_the_message() -> None:
    journey, _ = parse_journey(source("ab_test: {metric: click}"))
    driver = Driver(journey)
    (scheduled,) = of_type(driver.send("signup.done", T0).decisions, ScheduledAction)
    assert "ab_test" not in scheduled.params
    assert scheduled.variant in ("plain", "holdout")


def test_the_json_schema_knows_the_block() -> None:
    validator = Draft202012Validator(json_schema())
    good = yaml.safe_load(source("ab_test: {metric: {event: a.b}, within: 3d}"))
    assert not list(validator.iter_errors(good))
    bad = yaml.safe_load(source("ab_test: {metric: clicks}"))
    assert list(validator.iter_errors(bad))
    Journey.model_validate(good)


def test_half_a_character_is_a_journey_error_with_its_place() -> None:
    with pytest.raises(JourneyError, match="half a character") as caught:
        parse_journey(source('ab_test: {within: "\\ud800"}'))
    assert caught.value.problems[0].line == 13
