"""The behaviour model: the shipped one fits the shipped plan and journeys; every bad
model is a list of problems with file:line and field, never a traceback."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows.simulation.model import (
    SHIPPED_MODEL,
    Between,
    Choose,
    DateRange,
    Maybe,
    ModelError,
    Moment,
    load_model,
    parse_model,
)
from flows.simulation.model_check import check_model
from journeys.config import SHIPPED_DEFINITIONS
from journeys.loader import journey_files, load_journey
from journeys.model import Journey
from journeys.tracking import TrackingPlan, load_plan


@pytest.fixture(scope="module")
def plan() -> TrackingPlan:
    found = load_plan(SHIPPED_DEFINITIONS)
    assert found is not None
    return found


@pytest.fixture(scope="module")
def journeys() -> list[Journey]:
    return [load_journey(path) for path in journey_files([SHIPPED_DEFINITIONS])]


GOOD = """\
defaults:
  profiles:
    - {locale: de, country: DE, timezone: Europe/Berlin}
personas:
  - key: buyer
    share: 1
    starts_with: {event: order.completed, data: {total: 10.5, channel: online}}
    behaviour:
      - {after: order.completed, then: order.delivered, in: 2d..5d, keep: [order_id]}
"""


# Two outcomes of an order: delivered, or (for some) a ticket about it.
ONE_OF = (
    "one_of: [{then: order.delivered, p: 0.4, in: 2d, keep: [order_id]},"
    " {then: support.ticket_opened, p: 0.4, in: 1d, data: {topic: late}}]"
)


def _line_of(text: str, needle: str) -> int:
    """The 1-based line holding `needle`: where a reader would look for the problem."""
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def _problems(text: str, plan: TrackingPlan, journeys: list[Journey]) -> list[Any]:
    try:
        model, spots = parse_model(text, "m.yaml")
        check_model(model, plan, journeys, spots, "m.yaml")
    except ModelError as exc:
        return list(exc.problems)
    return []


def test_the_shipped_model_fits_the_shipped_plan_and_journeys(
    plan: TrackingPlan, journeys: list[Journey]
) -> None:
    model, spots = load_model(SHIPPED_MODEL)
    check_model(model, plan, journeys, spots, str(SHIPPED_MODEL))  # raises on a problem
    keys = {p.key for p in model.personas}
    # The seeds' personas: Max's laptop, the 8 steps' researcher, the moments of truth's
    # happy and unhappy buyers, the 5 phases' lead; the cart's shopper, seed 001's guest.
    assert keys == {
        "laptop_buyer",
        "researcher",
        "happy_buyer",
        "unhappy_buyer",
        "lead",
        "shopper",
        "event_guest",
    }
    stages = [r.after_stage for r in model.defaults.behaviour if r.after_stage]
    assert stages, "the shipped model reacts to stages the journeys move customers into"


def test_a_good_model_reads_as_written(plan: TrackingPlan, journeys: list[Journey]) -> None:
    assert _problems(GOOD, plan, journeys) == []
    model, _ = parse_model(GOOD)
    rule = model.personas[0].behaviour[0]
    assert (rule.after, rule.then, rule.p) == ("order.completed", "order.delivered", 1.0)
    assert [d.days for d in rule.delay] == [2, 5]


@pytest.mark.parametrize(
    ("change", "needle", "field", "says"),
    [
        (
            ("Europe/Berlin", "Europe/Berln"),
            "Europe/Berln",
            "defaults.profiles.0.timezone",
            "did you mean Europe/Berlin",
        ),
        (("2d..5d", "5d..2d"), "5d..2d", "personas.0.behaviour.0.in", "ends before it starts"),
        (("2d..5d", "0s"), "0s", "personas.0.behaviour.0.in", "longer than zero"),
        (("share: 1", "share: -1"), "share: -1", "personas.0.share", "greater than 0"),
        (
            ("total: 10.5", "total: {choose: []}"),
            "choose: []",
            "personas.0.starts_with.data.total.choose",
            "at least 1",
        ),
        (("key: buyer", "key: Buyer"), "Buyer", "personas.0.key", "should match"),
        (
            ("share: 1", "share: 1\n    weight: 2"),
            "weight: 2",
            "personas.0.weight",
            "unknown field 'weight'",
        ),
        (
            ("keep: [order_id]", "keep: [order_id], p: 1.5"),
            "p: 1.5",
            "personas.0.behaviour.0.p",
            "less than or equal to 1",
        ),
        (
            ("{after: order.completed, ", "{"),
            "then: order.delivered",
            "personas.0.behaviour.0",
            "either an event (after) or a stage",
        ),
        (
            ("then: order.delivered, in: 2d..5d, keep: [order_id]", "in: 2d"),
            "in: 2d",
            "personas.0.behaviour.0",
            "needs then and in",
        ),
        (
            ("then: order.delivered, in: 2d..5d, keep: [order_id]", ONE_OF + ", p: 0.5"),
            "p: 0.5}",
            "personas.0.behaviour.0",
            "p belongs in each outcome of one_of",
        ),
        (
            ("then: order.delivered, in: 2d..5d, keep: [order_id]", ONE_OF.replace("0.4", "0.7")),
            "one_of",
            "personas.0.behaviour.0",
            "add up to more than 1",
        ),
        (
            ("total: 10.5", "total: 10.5, url: {date: [2004-01-01, 1960-01-01]}"),
            "date:",
            "personas.0.starts_with.data.url",
            "is after the last",
        ),
        (
            ("total: 10.5", "total: 10.5, url: {date: [2001-01-01, 2003-01-01], leap_day: 0.1}"),
            "leap_day",
            "personas.0.starts_with.data.url",
            "no 29 February",
        ),
        (
            ("total: 10.5", "total: 10.5, url: {in: 2h, at: '25:00'}"),
            "25:00",
            "personas.0.starts_with.data.url.at",
            "25:00",
        ),
        (
            ("total: 10.5", "total: 10.5, url: {p: 0.5, value: {p: 0.5, value: x}}"),
            "value: {p",
            "personas.0.starts_with.data.url.value",
            "cannot hold another",
        ),
        (
            ("total: 10.5", "total: 10.5, url: {p: 1.5, value: x}"),
            "p: 1.5",
            "personas.0.starts_with.data.url.p",
            "less than or equal to 1",
        ),
    ],
)
def test_a_malformed_model_names_file_line_and_field(
    plan: TrackingPlan,
    journeys: list[Journey],
    change: tuple[str, str],
    needle: str,
    field: str,
    says: str,
) -> None:
    text = GOOD.replace(*change)

    problems = _problems(text, plan, journeys)

    assert [(p.file, p.line, p.field) for p in problems] == [
        ("m.yaml", _line_of(text, needle), field)
    ]
    assert says in problems[0].message


@pytest.mark.parametrize(
    ("change", "needle", "field", "says"),
    [
        (
            ("event: order.completed", "event: order.complete"),
            "order.complete,",
            "personas.0.starts_with.event",
            "did you mean 'order.completed'",
        ),
        (
            ("total: 10.5", "totl: 10.5"),
            "totl",
            "personas.0.starts_with.data.totl",
            "no field 'totl' for order.completed (did you mean 'total'?)",
        ),
        (
            ("total: 10.5", "total: lots"),
            "lots",
            "personas.0.starts_with.data.total",
            "is a number, not a string",
        ),
        (
            ("channel: online", "channel: {choose: [online, fax]}"),
            "fax",
            "personas.0.starts_with.data.channel",
            "'fax' is not one of",
        ),
        (
            ("keep: [order_id]", "keep: [total]"),
            "keep: [total]",
            "personas.0.behaviour.0.keep.0",
            "no field 'total' for order.delivered",
        ),
        (
            ("after: order.completed, ", "after_stage: customer_lifecycle.evaluatio, "),
            "evaluatio",
            "personas.0.behaviour.0.after_stage",
            "did you mean 'evaluation'",
        ),
        (
            ("after: order.completed, ", "after_stage: lifecycle.evaluation, "),
            "lifecycle.",
            "personas.0.behaviour.0.after_stage",
            "no journey 'lifecycle'",
        ),
        (
            ("keep: [order_id]", "of: total"),
            "of: total",
            "personas.0.behaviour.0.of",
            "order.completed data.total is a number; of needs a datetime",
        ),
        (
            ("keep: [order_id]", "keep: [order_id], one_of: x"),
            "one_of: x",
            "personas.0.behaviour.0.one_of",
            "valid list",
        ),
        (
            ("total: 10.5", "total: {date: [1960-01-01, 2004-12-31]}"),
            "date:",
            "personas.0.starts_with.data.total",
            "order.completed data.total is a number, not a date",
        ),
        (
            ("total: 10.5", "total: 10.5, url: {in: 2h, of: nope}"),
            "of: nope",
            "personas.0.starts_with.data.url.of",
            "'nope' is neither kept nor drawn before url",
        ),
        # A stage's rule reads the event that entered the stage: for a wait, the one that
        # entered the stage waited in (abandoned_cart.reminded: the cart.updated).
        (
            (
                "after: order.completed, then: order.delivered, in: 2d..5d, keep: [order_id]",
                "after_stage: abandoned_cart.reminded, then: order.completed, in: 2h,"
                " keep: [cart_id]",
            ),
            "keep: [cart_id]",
            "personas.0.behaviour.0.keep.0",
            "the tracking plan declares no field 'cart_id' for order.completed",
        ),
        (
            (
                "after: order.completed, then: order.delivered, in: 2d..5d, keep: [order_id]",
                "after_stage: abandoned_cart.reminded, then: order.completed, in: 2h,"
                " keep: [order_id]",
            ),
            "keep: [order_id]",
            "personas.0.behaviour.0.keep.0",
            "the tracking plan declares no field 'order_id' for cart.updated",
        ),
        (
            (
                "after: order.completed, then: order.delivered, in: 2d..5d, keep: [order_id]",
                "after_stage: birthday_club.birthday, then: order.completed, in: 2h, keep: [total]",
            ),
            "keep: [total]",
            "personas.0.behaviour.0.keep.0",
            "no event enters birthday_club.birthday",
        ),
        (
            (
                "after: order.completed, then: order.delivered, in: 2d..5d, keep: [order_id]",
                "after_stage: abandoned_cart.reminded, matching: {item_count: many},"
                " then: order.completed, in: 2h",
            ),
            "many",
            "personas.0.behaviour.0.matching.item_count",
            "matching cart.updated data.item_count is an integer, not a string",
        ),
        (
            (
                "after: order.completed, then: order.delivered, in: 2d..5d, keep: [order_id]",
                "after_stage: birthday_club.member, then: order.completed, in: 2h, of: totl",
            ),
            "of: totl",
            "personas.0.behaviour.0.of",
            "no event that enters birthday_club.member (account.created, order.completed)"
            " declares 'totl' (did you mean 'total'?)",
        ),
    ],
)
def test_a_model_the_plan_or_journeys_do_not_fit_names_file_line_and_field(
    plan: TrackingPlan,
    journeys: list[Journey],
    change: tuple[str, str],
    needle: str,
    field: str,
    says: str,
) -> None:
    text = GOOD.replace(*change)

    problems = _problems(text, plan, journeys)

    assert [(p.line, p.field) for p in problems] == [(_line_of(text, needle), field)]
    assert says in problems[0].message


def test_an_integer_field_takes_no_fractions_and_a_text_only_known_placeholders(
    plan: TrackingPlan, journeys: list[Journey]
) -> None:
    text = GOOD.replace(
        "    behaviour:\n",
        "    behaviour:\n"
        "      - {after: order.delivered, then: review.submitted, in: 1d,"
        " data: {rating: {between: [1, 4.5]}, product: 'p-{sku}'}}\n",
    )

    problems = _problems(text, plan, journeys)

    # The placeholder is refused while reading, before the plan is consulted.
    assert [(p.line, p.field) for p in problems] == [
        (_line_of(text, "{sku}"), "personas.0.behaviour.0.data")
    ]
    assert "{sku}" in problems[0].message and "{customer} and {n}" in problems[0].message
    fixed = _problems(text.replace("p-{sku}", "p-{n}"), plan, journeys)
    assert [(p.field, p.message) for p in fixed] == [
        (
            "personas.0.behaviour.0.data.rating",
            "review.submitted data.rating is an integer; give whole numbers to between",
        )
    ]


def test_a_missing_file_is_a_problem_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as caught:
        load_model(tmp_path / "nope.yaml")
    [problem] = caught.value.problems
    assert problem.file == str(tmp_path / "nope.yaml") and "cannot read" in problem.message


def test_the_data_forms_are_told_apart() -> None:
    model, _ = parse_model(
        GOOD.replace("total: 10.5", "total: {between: [1, 5]}, items: [a, b]").replace(
            "channel: online", "channel: {choose: {online: 3, store: 1}}"
        )
    )
    data = model.personas[0].starts_with.data
    assert isinstance(data["total"], Between) and data["items"] == ["a", "b"]
    assert isinstance(data["channel"], Choose) and data["channel"].options() == ["online", "store"]


# --- garbage in: a clear error, never a traceback ---------------------------------------------

FIELDS = [
    "defaults",
    "personas",
    "messages",
    "opened",
    "clicked",
    "surveys",
    "answered",
    "scores",
    "csat",
    "nps",
    "default",
    "delivered",
    "profiles",
    "consent",
    "attributes",
    "behaviour",
    "key",
    "share",
    "starts_with",
    "event",
    "data",
    "after",
    "after_stage",
    "then",
    "p",
    "in",
    "keep",
    "matching",
    "choose",
    "between",
    "locale",
    "country",
    "timezone",
    "email",
    "sms",
    "start",
    "active_hours",
    "max_events",
    "source",
    "phone",
    "one_of",
    "of",
    "date",
    "leap_day",
    "at",
    "value",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        [
            "2d..5d",
            "0s",
            "1d",
            "order.completed",
            "Europe/Berlin",
            "de",
            "DE",
            "subscribed",
            "none",
            "{n}",
            "{x}",
            "{",
            "07:00-22:00",
            "x.y",
            "1990-02-29",
            "2004-12-31",
            "18:00",
            "starts_at",
        ]
    ),
    st.text(string.printable, max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)
    ),
    max_leaves=30,
)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def _mutated(path: list[str | int], value: Any) -> str:
    """GOOD with one place replaced by garbage."""
    data: Any = yaml.safe_load(GOOD)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return _dump(data)


PLACES: list[list[str | int]] = [
    ["defaults"],
    ["defaults", "profiles"],
    ["defaults", "profiles", 0],
    ["personas"],
    ["personas", 0],
    ["personas", 0, "starts_with"],
    ["personas", 0, "starts_with", "data"],
    ["personas", 0, "behaviour"],
    ["personas", 0, "behaviour", 0],
    ["personas", 0, "share"],
    ["messages"],
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=200),
        VALUES.map(_dump),
        st.builds(_mutated, st.sampled_from(PLACES), VALUES),
    )
)
def test_garbage_is_a_clear_error_never_a_traceback(
    plan: TrackingPlan, journeys: list[Journey], text: str
) -> None:
    for problem in _problems(text, plan, journeys):
        assert problem.file == "m.yaml" and problem.message


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_in_a_file_are_a_clear_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("garbage") / "m.yaml"
    path.write_bytes(data)
    try:
        load_model(path)
    except ModelError as exc:
        assert all(p.file == str(path) and p.message for p in exc.problems)


# The richer forms: one outcome of several, a moment counted from a data field, a date
# range, a value given sometimes. Garbage in any of their places is a clear error too.
RICH = """\
defaults:
  profiles:
    - {locale: de, country: DE, timezone: Europe/Berlin}
  attributes:
    birthday: {p: 0.7, value: {date: [1960-01-01, 2004-12-31], leap_day: 0.02}}
personas:
  - key: guest
    share: 1
    starts_with:
      event: registration.created
      data: {starts_at: {in: 9d..20d, at: "18:00"}, ends_at: {in: 2h, of: starts_at}}
    behaviour:
      - after: registration.created
        one_of:
          - {then: registration.cancelled, p: 0.2, in: 1d, keep: [event_id]}
          - {then: attendance.recorded, p: 0.7, in: 2h..3h, of: starts_at, data: {attended: true}}
"""
RICH_PLACES: list[list[str | int]] = [
    ["defaults", "attributes", "birthday"],
    ["defaults", "attributes", "birthday", "p"],
    ["defaults", "attributes", "birthday", "value"],
    ["defaults", "attributes", "birthday", "value", "date"],
    ["defaults", "attributes", "birthday", "value", "leap_day"],
    ["personas", 0, "starts_with", "data", "starts_at"],
    ["personas", 0, "starts_with", "data", "starts_at", "at"],
    ["personas", 0, "starts_with", "data", "ends_at", "of"],
    ["personas", 0, "behaviour", 0, "one_of"],
    ["personas", 0, "behaviour", 0, "one_of", 0],
    ["personas", 0, "behaviour", 0, "one_of", 1, "of"],
    ["personas", 0, "behaviour", 0, "one_of", 1, "p"],
    ["personas", 0, "behaviour", 0, "one_of", 1, "data"],
    ["personas", 0, "behaviour", 0, "one_of", 1, "data", "attended"],
    ["personas", 0, "starts_with", "data"],
]


def _rich_mutated(path: list[str | int], value: Any) -> str:
    data: Any = yaml.safe_load(RICH)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return _dump(data)


def test_the_rich_forms_read_as_written(plan: TrackingPlan, journeys: list[Journey]) -> None:
    assert _problems(RICH, plan, journeys) == []
    model, _ = parse_model(RICH)
    birthday = model.defaults.attributes["birthday"]
    assert isinstance(birthday, Maybe) and isinstance(birthday.value, DateRange)
    data = model.personas[0].starts_with.data
    assert isinstance(data["ends_at"], Moment) and data["ends_at"].of == "starts_at"
    [rule] = model.personas[0].behaviour
    assert [(o.then, o.p, o.of) for o in rule.outcomes] == [
        ("registration.cancelled", 0.2, None),
        ("attendance.recorded", 0.7, "starts_at"),
    ]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.builds(_rich_mutated, st.sampled_from(RICH_PLACES), VALUES))
def test_garbage_in_the_rich_forms_is_a_clear_error_never_a_traceback(
    plan: TrackingPlan, journeys: list[Journey], text: str
) -> None:
    for problem in _problems(text, plan, journeys):
        assert problem.file == "m.yaml" and problem.message
        assert problem.line is not None, problem
