"""The tracking plan: journeys and templates checked against the events and attributes
a team declares, every problem with its place and a did-you-mean."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.config import definitions_dir, templates_dir
from journeys.errors import JourneyError
from journeys.loader import PLAN_FILE, journey_files
from journeys.tracking import TrackingPlan, check_event_data, load_plan, parse_plan
from journeys.validate import validate_paths

PLAN = """\
events:
  product.viewed:
    data:
      category: {type: string}
  order.completed:
    data:
      total: {type: number}
      channel: {type: string, values: [online, store]}
customer:
  segment: {type: string, values: [b2c, b2b]}
"""


def _project(tmp_path: Path, journey: str, templates: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "journeys"
    folder.mkdir(parents=True)
    (folder / PLAN_FILE).write_text(PLAN, encoding="utf-8")
    (folder / "j.yaml").write_text(journey, encoding="utf-8")
    tdir = tmp_path / "templates"
    shutil.copytree(templates_dir(), tdir)
    for name, text in (templates or {}).items():
        (tdir / "en" / name).write_text(text, encoding="utf-8")
    return folder


def _errors(tmp_path: Path, journey: str, templates: dict[str, str] | None = None) -> list[str]:
    folder = _project(tmp_path, journey, templates)
    report = validate_paths([folder], tmp_path / "templates")
    return [f"{p.line}: {p.message}" for p in report.problems if p.severity == "error"]


HEAD = "journey: cart\nversion: 1\nname: Cart\nlocale: en\nstages:\n"


def test_unknown_fields_attributes_and_events_are_named_with_their_line(tmp_path: Path) -> None:
    errors = _errors(
        tmp_path,
        HEAD
        + "  - key: browsing\n"
        + "    enter_when: {event: product.viewed, "
        + "where: \"categroy == 'laptops' and customer.segmnt == 'b2b'\"}\n"
        + "  - key: bought\n"
        + "    enter_when: {event: order.completd}\n"
        + "    final: true\n",
    )
    assert any(
        e.startswith("7: ") and "event field 'categroy'" in e and "'category'" in e for e in errors
    )
    assert any("customer attribute 'segmnt'" in e and "did you mean 'segment'" in e for e in errors)
    assert any(
        e.startswith("9: ")
        and "'order.completd' is not in the tracking plan" in e
        and "did you mean 'order.completed'" in e
        for e in errors
    )


def test_a_text_field_compared_with_a_number_and_an_unknown_value_are_errors(
    tmp_path: Path,
) -> None:
    errors = _errors(
        tmp_path,
        HEAD
        + "  - key: bought\n"
        + "    enter_when:\n"
        + "      {event: order.completed, where: \"total > 'big' or channel == 'stroe'\"}\n"
        + "    final: true\n",
    )
    assert any("'total' compares a number field with a string ('big')" in e for e in errors)
    assert any("'stroe' is not one of its values" in e and "'store'" in e for e in errors)


def test_a_template_reading_event_data_in_a_stage_a_schedule_enters_is_an_error(
    tmp_path: Path,
) -> None:
    journey = (
        HEAD
        + "  - key: browsing\n"
        + "    enter_when: {event: product.viewed}\n"
        + "  - key: reminder\n"
        + "    enter_when: {every: '0 9 * * MON', from: [browsing]}\n"
        + "    on_enter: [{email: cart}]\n"
        + "    final: true\n"
    )
    body = "{% block subject %}Cart{% endblock %}{% block text_body %}{}{% endblock %}"
    body += "{% block html_body %}<p>{}</p>{% endblock %}"
    layout = "{% extends '_layouts/email.j2' %}"
    unguarded = layout + body.replace("{}", "{{ event.data.total }}")
    errors = _errors(tmp_path, journey, {"cart.email.j2": unguarded})
    assert any(
        "uses event.data.total" in e
        and "entered by a timer" in e
        and "{% if event.data.total is defined %}" in e
        for e in errors
    ), errors

    guarded = layout + body.replace(
        "{}", "{% if event.data.total is defined %}{{ event.data.total }}{% endif %}"
    )
    assert not [
        e for e in _errors(tmp_path / "g", journey, {"cart.email.j2": guarded}) if "event.data" in e
    ]
    defaulted = layout + body.replace("{}", "{{ event.data.total|default(0) }}")
    assert not [
        e
        for e in _errors(tmp_path / "d", journey, {"cart.email.j2": defaulted})
        if "event.data" in e
    ]


@pytest.mark.parametrize("timer", ["after: 1d", "no_event_for: 1d"])
def test_a_stage_a_wait_enters_renders_with_the_event_of_the_stage_waited_in(
    tmp_path: Path, timer: str
) -> None:
    journey = (
        HEAD
        + "  - key: browsing\n"
        + "    enter_when: {event: product.viewed}\n"
        + "  - key: reminder\n"
        + f"    enter_when: {{{timer}, from: [browsing]}}\n"
        + "    on_enter: [{email: cart}]\n"
        + "    final: true\n"
    )
    body = "{% extends '_layouts/email.j2' %}{% block subject %}Cart{% endblock %}"
    body += "{% block text_body %}{}{% endblock %}{% block html_body %}<p>x</p>{% endblock %}"
    carried = body.replace("{}", "{{ event.data.category }}")  # no guard needed
    assert not [
        e for e in _errors(tmp_path / "c", journey, {"cart.email.j2": carried}) if "event.data" in e
    ]
    missing = body.replace("{}", "{{ event.data.total }}")
    errors = _errors(tmp_path / "m", journey, {"cart.email.j2": missing})
    assert any("event.data.total" in e and "'product.viewed'" in e for e in errors), errors


def test_a_template_field_the_entering_event_does_not_carry_is_an_error(tmp_path: Path) -> None:
    journey = (
        HEAD
        + "  - key: viewed\n"
        + "    enter_when: {event: product.viewed}\n"
        + "    on_enter: [{email: look}]\n"
        + "    final: true\n"
    )
    layout = "{% extends '_layouts/email.j2' %}{% block subject %}Hi{% endblock %}"
    text = layout + "{% block text_body %}{{ event.data.categroy }}{% endblock %}"
    text += "{% block html_body %}<p>x</p>{% endblock %}"
    errors = _errors(tmp_path, journey, {"look.email.j2": text})
    assert any(
        "event.data.categroy" in e and "'product.viewed' does not carry" in e and "'category'" in e
        for e in errors
    ), errors


def test_the_shipped_journeys_pass_the_shipped_plan() -> None:
    plan = load_plan(definitions_dir())
    assert plan is not None and "order.completed" in plan.events
    report = validate_paths([definitions_dir()])
    assert report.ok and len(report.journeys) == len(list(journey_files([definitions_dir()])))
    assert all(p.file != str(definitions_dir() / PLAN_FILE) for p in report.problems)


def test_a_broken_plan_names_its_line_and_field(tmp_path: Path) -> None:
    with pytest.raises(JourneyError) as caught:
        parse_plan("events:\n  order.completed:\n    data:\n      total: {type: money}\n", "p.yaml")
    problem = caught.value.problems[0]
    assert (problem.line, problem.field) == (4, "events.order.completed.data.total.type")
    folder = tmp_path / "journeys"
    shutil.copytree(definitions_dir(), folder)
    (folder / PLAN_FILE).write_text("events: [1, 2]\n", encoding="utf-8")
    report = validate_paths([folder])
    assert not report.ok
    assert any(p.file.endswith(PLAN_FILE) and p.line == 1 for p in report.problems)


def test_event_data_is_checked_by_type() -> None:
    plan = parse_plan(PLAN)
    assert check_event_data(plan, "order.completed", {"total": 10, "channel": "online"}) == []
    assert check_event_data(plan, "order.completed", {"total": "10 EUR"}) == [
        "data.total: expected number, got string"
    ]
    assert check_event_data(plan, "order.completed", {"channel": "fax"}) == [
        "data.channel: 'fax' is not one of ['online', 'store']"
    ]
    assert check_event_data(plan, "unknown.type", {"total": "x"}) == []


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_any_plan_text_is_a_plan_or_a_clear_error(text: str) -> None:
    try:
        assert isinstance(parse_plan(text, "p.yaml"), TrackingPlan)
    except JourneyError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["order.completed", "product.viewed", "x.y"]),
    st.dictionaries(st.text(max_size=8), _JSON, max_size=5),
)
def test_any_event_data_is_fine_or_named_by_field(event_type: str, data: dict[str, object]) -> None:
    plan = parse_plan(PLAN)
    for wrong in check_event_data(plan, event_type, data):
        field = wrong.split(":", 1)[0]
        assert field.removeprefix("data.") in data


def test_validate_events_names_undeclared_types_and_misfits(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from flows.cli import app

    lines = [
        {"type": "order.completed", "data": {"total": "12"}},
        {"type": "order.complete"},
        {"type": "order.completed", "data": {"total": 12.5}},
    ]
    path = tmp_path / "events.jsonl"
    path.write_text(
        "\n".join(
            json.dumps(
                {"customer_id": "c1", "occurred_at": "2026-01-01T00:00:00Z", "external_id": f"o{n}"}
                | line
            )
            for n, line in enumerate(lines)
        )
        + "\nnot json\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, ["validate", "--events", str(path)])
    assert result.exit_code == 1, result.output
    out = " ".join(result.output.split())
    assert "'order.complete' (1 event(s)) is not in the tracking plan" in out
    assert "did you mean 'order.completed'" in out
    assert "order.completed api:o0: data.total: expected number, got string" in out
    assert f"{path}:4: not JSON" in out
    assert "3 event(s): 1 of undeclared types, 1 not fitting the plan, 1 bad line(s)" in out
    assert "Traceback" not in result.output
