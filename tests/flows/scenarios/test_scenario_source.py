"""Reading scenario files: every problem names its file, line, column and field, with a
hint; garbage of any kind is a clear error, never a traceback."""

from __future__ import annotations

import string
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from flows.scenarios.crosscheck import check_against
from flows.scenarios.source import (
    ScenarioError,
    ScenarioSource,
    load_scenario_file,
    parse_scenarios,
)
from flows.scenarios.suite import Suite
from journeys.errors import Problem

HEAD = "journey: customer_lifecycle\nscenarios:\n  - name: one\n"


def problems_of(text: str) -> list[Problem]:
    with pytest.raises(ScenarioError) as raised:
        parse_scenarios(text, "s.yaml")
    return raised.value.problems


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("body", "bad", "field", "message"),
    [
        (
            "    events:\n      - {at: 3x, type: order.completed}\n",
            "3x",
            "scenarios.0.events.0.at",
            "'3x' is not a time; write a duration since the scenario's start",
        ),
        (
            "    events:\n      - {at: 1d, type: order.completed, dat: {total: 5}}\n",
            "dat:",
            "scenarios.0.events.0.dat",
            "unknown field 'dat' (did you mean 'data'?)",
        ),
        (
            "    events:\n      - {at: 1d, typ: order.completed}\n",
            "typ:",
            "scenarios.0.events.0",
            "a step needs one of the keys: type (an event), consent, customer",
        ),
        (
            "    customer: {consent: {mail: subscribed}}\n",
            "mail",
            "scenarios.0.customer.consent.mail",
            "unknown key 'mail': use 'email' or 'sms'",
        ),
        (
            "    customer: {phone: '12'}\n",
            "phone",
            "scenarios.0.customer",
            "phone: phone number '12' is not a valid number for country DE",
        ),
        (
            "    expect:\n      sent:\n        - {emial: thank_you}\n",
            "emial",
            "scenarios.0.expect.sent.0.emial",
            "unknown field 'emial' (did you mean 'email'?)",
        ),
        (
            "    expect:\n      sent:\n        - {email: thank_you, sms: we_miss_you}\n",
            "thank_you",
            "scenarios.0.expect.sent.0",
            "name the message with exactly one of: email, sms, webhook",
        ),
        (
            "    expect:\n      deferred:\n        - {email: thank_you, by: quiet_hourz}\n",
            "quiet_hourz",
            "scenarios.0.expect.deferred.0.by",
            "Input should be 'quiet hours' or 'frequency cap'",
        ),
        (
            "    start: 3d\n",
            "start",
            "scenarios.0.start",
            "'3d': the start is a date and time",
        ),
        (
            "    until: 0999-01-01 10:00\n",
            "until",
            "scenarios.0.until",
            "a date lies in the years 1970 to 2999",
        ),
    ],
    ids=[
        "time",
        "unknown-field",
        "step-kind",
        "consent-channel",
        "phone",
        "message-field",
        "two-channels",
        "rule",
        "start",
        "year",
    ],
)
def test_each_problem_names_its_line_field_and_a_hint(
    body: str, bad: str, field: str, message: str
) -> None:
    text = HEAD + body

    [problem] = problems_of(text)

    assert (problem.file, problem.line, problem.field) == ("s.yaml", line_of(text, bad), field)
    assert message in problem.message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{total: 1e400}", "data: no store keeps this: not acceptable JSON: Infinity"),
        (f"{{total: {10**70}}}", "an integer of 71 digits (at most 64)"),
        ('{note: "a\\0b"}', "note holds a NUL character"),
    ],
    ids=["infinite", "digits", "nul"],
)
def test_event_data_no_store_keeps_is_refused(data: str, message: str) -> None:
    text = HEAD + f"    events:\n      - {{at: 0s, type: order.completed, data: {data}}}\n"

    [problem] = problems_of(text)

    assert (problem.line, problem.field) == (5, "scenarios.0.events.0")
    assert message in problem.message


def test_every_problem_of_a_file_is_reported_at_once() -> None:
    text = HEAD + "    until: soon\n  - name: two\n    events: [{at: 1d}]\n"

    problems = problems_of(text)

    assert [(p.line, p.field) for p in problems] == [
        (4, "scenarios.0.until"),
        (6, "scenarios.1.events.0"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty; a scenario file needs 'journey' and 'scenarios'"),
        ("- a\n- b\n", "a scenario file is a mapping with 'journey' and 'scenarios', not a list"),
        ("journey: x\nscenarios: [\n", "YAML syntax error"),
        ("journey: x\n", "required field 'scenarios' is missing"),
        ("journey: x\nscenarios: []\n", "List should have at least 1 item"),
        ("journey: x\nscenarios: [{name: !!python/object x}]\n", "is not supported here"),
    ],
)
def test_a_file_that_is_no_scenario_file_says_what_one_needs(text: str, message: str) -> None:
    [problem] = problems_of(text)

    assert message in problem.message
    assert problem.line is not None


def test_what_a_scenario_names_must_exist_in_its_journey(shipped: Suite, tmp_path: Path) -> None:
    text = (
        HEAD
        + "    events: [{at: 2026-03-01 10:00, type: order.completed}]\n"
        + "    expect:\n"
        + "      stages: [{at: 1d, stage: evaluaton}]\n"
        + "      sent: [{email: thank_yuo}, {email: referral_request, variant: persnal}]\n"
        + "      not_sent: [{email: thank_you, stage: loyalty}]\n"
        + "      promo_codes: [{campaign: welcom}]\n"
        + "  - name: one\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")

    problems = check_against(load_scenario_file(path), shipped.journeys)

    found = {(p.line, p.field): p.message for p in problems}
    assert found == {
        (4, "scenarios.0.events.0.at"): "lies before the scenario's start "
        "(Mon 2026-03-02 09:00 Europe/Berlin)",
        (6, "scenarios.0.expect.stages.0.stage"): "the journey has no stage 'evaluaton' "
        "(did you mean 'evaluation'?); valid are: comparing_offers, customer_care, decision, "
        "dormant, evaluation, information_search, loyalty, receiving_offer, recommendation",
        (7, "scenarios.0.expect.sent.0.email"): found[(7, "scenarios.0.expect.sent.0.email")],
        (7, "scenarios.0.expect.sent.1.variant"): "email 'referral_request' has no variant "
        "'persnal' (did you mean 'personal'?); valid are: holdout, personal, reward",
        (8, "scenarios.0.expect.not_sent.0.stage"): "email 'thank_you' is not sent in stage "
        "'loyalty'; valid are: decision",
        (9, "scenarios.0.expect.promo_codes.0.campaign"): "the journey has no campaign 'welcom'; "
        "valid are: loyalty, review_thanks, winback",
        (10, "scenarios.1.name"): "another scenario is named 'one' (line 3); names are unique "
        "in a file",
    }
    assert found[(7, "scenarios.0.expect.sent.0.email")].startswith(
        "journey customer_lifecycle sends no email 'thank_yuo' (did you mean 'thank_you'?)"
    )


def test_an_unknown_journey_is_named_with_the_known_ones(shipped: Suite, tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("journey: customer_lifecyle\nscenarios: [{name: a}]\n", encoding="utf-8")

    [problem] = check_against(load_scenario_file(path), shipped.journeys)

    assert (problem.line, problem.field) == (1, "journey")
    assert problem.message.startswith(
        "unknown journey 'customer_lifecyle' (did you mean 'customer_lifecycle'?)"
    )


# --- garbage ------------------------------------------------------------------------------

FIELDS = [
    "journey",
    "scenarios",
    "name",
    "start",
    "until",
    "customer",
    "events",
    "expect",
    "at",
    "type",
    "data",
    "consent",
    "email",
    "sms",
    "webhook",
    "stages",
    "sent",
    "not_sent",
    "deferred",
    "promo_codes",
    "stage",
    "variant",
    "by",
    "within",
    "phone",
    "timezone",
    "id",
    "because",
    "campaign",
    "expires",
]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**80), max_value=10**80),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(
        [
            "0s",
            "3d",
            "1d12h",
            "2026-03-05 10:00",
            "9999-12-31T23:59:59+14:00",
            "customer_lifecycle",
            "order.completed",
            "thank_you",
            "subscribed",
            "quiet hours",
            "Europe/Berlin",
            "+49151",
        ]
    ),
    st.text(string.printable, max_size=12),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(FIELDS), inner, max_size=5)
    ),
    max_leaves=25,
)


def _dump(data: Any) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.text(max_size=200),
        VALUES.map(_dump),
        st.builds(
            lambda name, body: _dump(
                {"journey": "customer_lifecycle", "scenarios": [{"name": name, **body}]}
            ),
            st.text(min_size=1, max_size=10),
            st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=4),
        ),
    )
)
def test_garbage_is_a_clear_error_never_a_traceback(shipped: Suite, text: str) -> None:
    try:
        model, spots = parse_scenarios(text, "g.yaml")
    except ScenarioError as exc:
        assert exc.problems
        assert all(p.file == "g.yaml" and p.message for p in exc.problems)
        return
    # What reads well must also check against its journey without a crash.
    problems = check_against(ScenarioSource(Path("g.yaml"), model, spots), shipped.journeys)
    assert all(p.message for p in problems)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_any_bytes_in_a_file_are_a_clear_error(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("garbage") / "g.yaml"
    path.write_bytes(data)
    try:
        load_scenario_file(path)
    except ScenarioError as exc:
        assert all(p.file == str(path) for p in exc.problems)


def test_the_command_reports_a_bad_file_with_exit_code_2_and_runs_nothing(tmp_path: Path) -> None:
    good = tmp_path / "a_good.yaml"
    good.write_text(HEAD + "    until: 1d\n", encoding="utf-8")
    bad = tmp_path / "b_bad.yaml"
    bad.write_text(
        HEAD + "    events:\n      - {at: 3x, type: order.completed}\n", encoding="utf-8"
    )

    result = CliRunner().invoke(app, ["test", str(tmp_path)])

    assert result.exit_code == 2
    out = " ".join(result.output.split())
    assert f"{bad}:5:14 scenarios.0.events.0.at: '3x' is not a time" in out
    assert "1 problem(s) in the scenario files; nothing ran" in out
    assert "PASSED" not in out and "Traceback" not in out


def test_expectations_after_the_end_are_refused(shipped: Suite, tmp_path: Path) -> None:
    text = (
        HEAD
        + "    until: 5d\n"
        + "    expect:\n"
        + "      stages: [{at: 6d, stage: evaluation}]\n"
        + "      sent: [{email: thank_you, at: 5d1m}]\n"
    )
    path = tmp_path / "s.yaml"
    path.write_text(text, encoding="utf-8")

    problems = check_against(load_scenario_file(path), shipped.journeys)

    assert [(p.line, p.field, p.message) for p in problems] == [
        (6, "scenarios.0.expect.stages.0.at", "lies after the scenario's end, 'until' (+5d)"),
        (7, "scenarios.0.expect.sent.0.at", "lies after the scenario's end, 'until' (+5d)"),
    ]
