"""Loading journey YAML: every problem at once, each at its file:line with a hint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import time
from pathlib import Path

import pytest
import yaml
from jf_factories import POST_PURCHASE_YAML

from journeys.errors import JourneyError, Problem
from journeys.loader import journey_files, load_journey, parse_journey

WriteJourney = Callable[[str, str], Path]

# Twelve-odd mistakes a marketer might make, one per line marked with its number.
BROKEN = """\
journey: post_purchase
version: 3
nmae: After the purchase
locale: de
stages:
  - key: Purchase
    enter_when:
      event: order.completed
      wher: "rating >= 4"
    on_enter:
      - email: thank_you
        after: 3 days
  - key: evaluation
    enter_when: {event: order.delivered, where: "rating >> 4", from: [purchase]}
    on_enter:
      - after: 3d
        promo: {discount: "10%"}
      - sms: review_reminder
        when: "rating = 4"
  - key: loyalty
    enter_when: {no_event_for: 60d}
  - key: dormant
    enter_when: {after: 60, from: [loyalty]}
    on_enter:
      sms: we_miss_you
      after: 2 weeks
  - title: A stage without a key
    final: true
settings:
  timezone: Europe/Berln
  frequency_cap: {email: 3 per week}
reentry: {policy: after_cooldown}
"""


def line_of(text: str, marker: str, occurrence: int = 1) -> int:
    """1-based line of the `occurrence`-th line containing `marker`."""
    hits = [n for n, line in enumerate(text.splitlines(), start=1) if marker in line]
    assert len(hits) >= occurrence, f"{marker!r} not in the test file"
    return hits[occurrence - 1]


# (field path, line marker, words the message must contain)
EXPECTED: list[tuple[str, str, tuple[str, ...]]] = [
    ("nmae", "nmae:", ("unknown field 'nmae'", "did you mean 'name'")),
    ("name", "journey:", ("required field 'name' is missing",)),
    ("stages.0.key", "key: Purchase", ("'Purchase'", "lower_snake_case")),
    ("stages.0.enter_when.0.wher", "wher:", ("unknown field 'wher'", "did you mean 'where'")),
    ("stages.0.on_enter.0.after", "after: 3 days", ("'3 days' is not a duration", "'3d'")),
    ("stages.1.enter_when.0.where", "rating >> 4", ("position 8", "'rating >> 4'")),
    ("stages.1.on_enter.0", "- after: 3d", ("an action needs one of the keys", "email")),
    ("stages.1.on_enter.1.when", "rating = 4", ("use '=='", "position 7")),
    ("stages.2.enter_when.0.from", "no_event_for: 60d", ("required field 'from' is missing",)),
    ("stages.3.enter_when.0.after", "after: 60,", ("not 60", "'3d'")),
    ("stages.3.on_enter.0.after", "after: 2 weeks", ("'2 weeks' is not a duration",)),
    ("stages.4.key", "- title: A stage", ("required field 'key' is missing",)),
    ("settings.timezone", "Europe/Berln", ("unknown time zone 'Europe/Berln'", "Europe/Berlin")),
    ("settings.frequency_cap.email", "3 per week", ("'3/7d'",)),
    ("reentry", "policy: after_cooldown", ("needs a cooldown",)),
]


@pytest.fixture
def broken_problems(write_journey: WriteJourney) -> tuple[Path, list[Problem], str]:
    path = write_journey("broken.yaml", BROKEN)
    with pytest.raises(JourneyError) as caught:
        load_journey(path)
    return path, list(caught.value.problems), str(caught.value)


def test_every_mistake_is_reported_in_one_error(
    broken_problems: tuple[Path, list[Problem], str],
) -> None:
    _, problems, _ = broken_problems

    assert sorted(p.field for p in problems) == sorted(field for field, _, _ in EXPECTED)
    assert all(p.severity == "error" for p in problems)


@pytest.mark.parametrize(("field", "marker", "words"), EXPECTED, ids=[e[0] for e in EXPECTED])
def test_each_problem_names_its_line_field_and_a_hint(
    broken_problems: tuple[Path, list[Problem], str],
    field: str,
    marker: str,
    words: tuple[str, ...],
) -> None:
    path, problems, message = broken_problems
    [problem] = [p for p in problems if p.field == field]

    assert problem.file == str(path)
    assert problem.line == line_of(BROKEN, marker)
    for word in words:
        assert word in problem.message
    # The printed error is what a marketer reads: file:line:column: field: message.
    assert f"{path}:{problem.line}:{problem.column}: {field}: {problem.message}" in message


def test_a_problem_in_a_single_trigger_without_list_points_at_its_own_line(
    broken_problems: tuple[Path, list[Problem], str],
) -> None:
    _, problems, _ = broken_problems
    [problem] = [p for p in problems if p.field == "stages.0.enter_when.0.wher"]

    # Not the line of the trigger's first key ('event:'), but that of 'wher:'.
    assert problem.line == line_of(BROKEN, "wher:")
    assert problem.line != line_of(BROKEN, "event: order.completed")


def test_the_error_counts_its_problems(broken_problems: tuple[Path, list[Problem], str]) -> None:
    _, problems, message = broken_problems

    assert message.splitlines()[0] == f"{len(EXPECTED)} problems in journey definition"
    assert len(problems) == len(EXPECTED)


def test_a_correct_journey_loads(write_journey: WriteJourney) -> None:
    journey = load_journey(write_journey("post_purchase.yaml", POST_PURCHASE_YAML))

    assert journey.journey == "post_purchase"
    assert journey.stage_keys == [
        "purchase",
        "evaluation",
        "loyalty",
        "complaint",
        "care",
        "dormant",
    ]


def test_a_journeys_folder_s_tests_hold_scenarios_not_journeys(
    write_journey: WriteJourney, tmp_path: Path
) -> None:
    journey = write_journey("post_purchase.yaml", POST_PURCHASE_YAML)
    nested = write_journey("retail/store.yaml", POST_PURCHASE_YAML)
    scenario = write_journey("tests/post_purchase.yaml", "journey: post_purchase\n")

    found = list(journey_files([tmp_path / "journeys"]))

    assert found == [journey, nested]
    assert list(journey_files([scenario])) == [scenario]  # a file named is a file read


# --- YAML syntax ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bad_line"),
    [
        # A key indented one space too far.
        ("journey: x\nversion: 1\nname: X\nstages:\n  - key: a\n     final: true\n", 6),
        # A tab used for indentation.
        ("journey: x\nversion: 1\nname: X\nstages:\n  - key: a\n\tfinal: true\n", 6),
        # A colon in an unquoted value.
        ("journey: x\nversion: 1\nname: X: the sequel\nstages: []\n", 3),
    ],
    ids=["indentation", "tab", "colon"],
)
def test_a_yaml_syntax_error_is_reported_on_its_own_line(
    write_journey: WriteJourney, text: str, bad_line: int
) -> None:
    path = write_journey("syntax.yaml", text)

    with pytest.raises(JourneyError) as caught:
        load_journey(path)

    [problem] = caught.value.problems
    assert problem.message.startswith("YAML syntax error")
    assert (problem.file, problem.line) == (str(path), bad_line)


def test_an_empty_file_says_what_a_journey_needs(write_journey: WriteJourney) -> None:
    path = write_journey("empty.yaml", "# nothing yet\n")

    with pytest.raises(JourneyError) as caught:
        load_journey(path)

    [problem] = caught.value.problems
    assert "empty" in problem.message
    assert "stages" in problem.message


@pytest.mark.parametrize(
    ("text", "key", "marker"),
    [
        (
            "journey: x\nversion: 1\nname: X\nstages:\n"
            "  - key: a\n    enter_when: {event: a.b}\n    key: b\n    final: true\n",
            "key",
            "key: b",
        ),
        (
            "journey: x\nversion: 1\nname: X\nstages: []\nname: Y\n",
            "name",
            "name: Y",
        ),
    ],
    ids=["in a stage", "at the top"],
)
def test_a_duplicate_key_in_a_mapping_is_reported(
    write_journey: WriteJourney, text: str, key: str, marker: str
) -> None:
    path = write_journey("dup.yaml", text)

    with pytest.raises(JourneyError) as caught:
        load_journey(path)

    [problem] = caught.value.problems
    assert f"duplicate key '{key}'" in problem.message
    assert problem.line == line_of(text, marker)
    assert problem.path[-1] == key


# --- YAML 1.1 traps ---------------------------------------------------------------------

NORWAY = """\
journey: norway
version: 1
name: Norge
stages:
  - key: no
    enter_when: {event: order.completed}
    on_enter:
      - key: remember
        set_attribute:
          country: NO
          on: yes
          off: n
          send_at: 09:00
          last_call: 21:30
          window: 1:30
      - email: velkommen
        marketing: false
  - key: on
    enter_when: {event: order.delivered, from: [no]}
    final: true
settings:
  quiet_hours: 21:00-08:00
"""


def test_yaml_1_1_booleans_and_sexagesimals_stay_strings() -> None:
    # Plain YAML 1.1 turns these into booleans and base-60 numbers; the control proves it.
    assert yaml.safe_load("[no, on, NO, 21:30, 1:30]") == [False, True, False, 1290, 90]

    journey, _ = parse_journey(NORWAY, "norway.yaml")

    assert journey.stage_keys == ["no", "on"]
    assert journey.entry_stages == ["no"]
    assert journey.stages[1].enter_when[0].from_ == ["no"]
    remember = journey.stages[0].on_enter[0]
    assert remember.set_attribute == {  # type: ignore[union-attr]
        "country": "NO",
        "on": "yes",
        "off": "n",
        "send_at": "09:00",
        "last_call": "21:30",
        "window": "1:30",
    }
    assert journey.settings.quiet_hours == (time(21, 0), time(8, 0))


def test_true_false_and_numbers_keep_their_types() -> None:
    journey, _ = parse_journey(NORWAY, "norway.yaml")

    assert journey.version == 1
    assert journey.stages[0].on_enter[1].marketing is False  # type: ignore[union-attr]
    assert journey.stages[1].final is True


def test_quiet_hours_must_be_a_time_window(write_journey: WriteJourney) -> None:
    path = write_journey("quiet.yaml", NORWAY.replace("21:00-08:00", "21:00-25:00"))

    with pytest.raises(JourneyError) as caught:
        load_journey(path)

    [problem] = caught.value.problems
    assert problem.field == "settings.quiet_hours"
    assert "'25:00' is not a time of day" in problem.message
    assert problem.line == line_of(NORWAY, "quiet_hours")
