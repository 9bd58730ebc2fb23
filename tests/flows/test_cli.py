"""The command line as a marketer uses it: validate, graph, schema."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from journeys import load_journey
from journeys.config import definitions_dir, templates_dir
from journeys.loader import journey_files
from journeys.schema import (
    REFERENCE_PATH,
    SCHEMA_PATH,
    TRACKING_SCHEMA_PATH,
    reference_text,
    schema_text,
    tracking_schema_text,
)

runner = CliRunner()


def test_validate_passes_on_the_shipped_journeys() -> None:
    result = runner.invoke(app, ["validate"])

    assert result.exit_code == 0, result.output
    shipped = len(list(journey_files([definitions_dir()])))
    assert f"{shipped} file(s), {shipped} journey(s) valid, 0 error(s)" in result.output


def _broken_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "journeys"
    shutil.copytree(definitions_dir(), folder)
    path = folder / "customer_lifecycle.yaml"
    text = path.read_text(encoding="utf-8")
    replacements = [
        ("from: [information_search]}", "from: [information_serch]}"),  # unknown stage
        ("after: 1d\n        email: buying_guide", "after: 1x\n        email: buying_guide"),
        ("email: getting_started", "email: getting_startd"),  # no such template
        ('quiet_hours: "21:00-08:00"', 'quiet_hours: "21:00"'),
    ]
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")
    return path


def line_of_text(lines: list[str], fragment: str) -> int:
    return next(i for i, line in enumerate(lines, 1) if fragment in line)


def test_validate_lists_every_problem_of_a_broken_copy_with_its_line(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()

    result = runner.invoke(app, ["validate", str(path.parent), "--templates", str(templates_dir())])

    assert result.exit_code == 1
    out = " ".join(result.output.split())  # rich may wrap long lines
    shipped = len(list(journey_files([definitions_dir()])))
    assert f"{shipped - 1} journey(s) valid" in out  # all but the broken one
    found = re.findall(r"customer_lifecycle\.yaml:(\d+):\d+ error", out)
    # Both schema problems, and the template problem of a stage that is valid on its own
    # (one schema error hides nothing else); the graph is checked once the schema holds.
    assert len(found) == 4  # the template is missing in both locales
    assert f"customer_lifecycle.yaml:{line_of_text(lines, 'getting_startd')}" in out
    assert "template 'getting_startd' for email is missing" in out

    def line_of(fragment: str) -> str:
        return str(next(i for i, line in enumerate(lines, 1) if fragment in line))

    # Schema problems come first, and stop the cross-reference checks for that file.
    assert f"customer_lifecycle.yaml:{line_of('after: 1x')}" in out
    assert "'1x' is not a duration" in out
    assert f"customer_lifecycle.yaml:{line_of('quiet_hours')}" in out
    assert "HH:MM-HH:MM" in out


def test_validate_reports_graph_and_template_problems_with_hints(tmp_path: Path) -> None:
    path = _broken_copy(tmp_path)
    text = path.read_text(encoding="utf-8")
    text = text.replace("after: 1x", "after: 1d").replace('"21:00"', '"21:00-08:00"')
    path.write_text(text, encoding="utf-8")
    lines = text.splitlines()

    result = runner.invoke(app, ["validate", str(path), "--templates", str(templates_dir())])

    assert result.exit_code == 1
    out = " ".join(result.output.split())
    serch = next(i for i, line in enumerate(lines, 1) if "information_serch" in line)
    assert f"customer_lifecycle.yaml:{serch}:" in out
    assert "unknown stage 'information_serch' (did you mean 'information_search'?)" in out
    assert "template 'getting_startd' for email is missing in locale 'de'" in out
    assert "template 'getting_startd' for email is missing in locale 'en'" in out


def test_validate_exits_2_when_there_is_nothing_to_check(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(tmp_path)])

    assert result.exit_code == 2


@pytest.mark.parametrize("key", ["customer_lifecycle", "omnichannel_retail"])
def test_graph_draws_every_stage_and_transition(key: str, tmp_path: Path) -> None:
    journey = load_journey(definitions_dir() / f"{key}.yaml")
    out = tmp_path / "map.md"

    result = runner.invoke(app, ["graph", key, "-o", str(out)])

    assert result.exit_code == 0, result.output
    chart = out.read_text(encoding="utf-8")
    assert chart.startswith("```mermaid\n") and "flowchart LR" in chart
    for stage in journey.stages:
        assert re.search(rf"^    {stage.key}[\[(]", chart, re.M), stage.key
        for trigger in stage.enter_when:
            for source in getattr(trigger, "from_", None) or ():
                assert re.search(rf"^    {source} [-=.]+>\|.*\| {stage.key}$", chart, re.M), (
                    f"{source} -> {stage.key}"
                )


def test_graph_names_the_valid_journeys_for_an_unknown_one() -> None:
    result = runner.invoke(app, ["graph", "customer_lifecyle"])

    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "unknown journey 'customer_lifecyle' (did you mean 'customer_lifecycle'?)" in out


def test_the_committed_json_schema_and_reference_match_the_model() -> None:
    # If this fails, run `journeyflow schema --write` and commit the result.
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()
    assert REFERENCE_PATH.read_text(encoding="utf-8") == reference_text()
    assert TRACKING_SCHEMA_PATH.read_text(encoding="utf-8") == tracking_schema_text()
    from journeys.schema import TEMPLATES_REFERENCE_PATH
    from journeys.templating.reference import reference_text as templates_reference

    assert TEMPLATES_REFERENCE_PATH.read_text(encoding="utf-8") == templates_reference()


def test_shipped_journeys_point_editors_at_the_schema() -> None:
    for path in definitions_dir().glob("*.yaml"):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        schema = "tracking_plan" if path.name == "tracking_plan.yaml" else "journey"
        assert first == f"# yaml-language-server: $schema=../{schema}.schema.json", path.name


def _commands(group: object, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import typer.main

    click_group = typer.main.get_command(app) if not prefix else group
    found = []
    for name, command in getattr(click_group, "commands", {}).items():
        found.append((*prefix, name))
        found += _commands(command, (*prefix, name))
    return found


def test_help_of_every_command_shows_no_type_for_flags() -> None:
    commands = _commands(app)
    assert ("serve",) in commands and ("messages", "release") in commands
    for command in [(), *commands]:
        result = runner.invoke(app, [*command, "--help"], terminal_width=120)
        assert result.exit_code == 0, (command, result.output)
        assert "<bool>" not in result.output and "BOOLEAN" not in result.output, command


def test_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.startswith("journeyflow ")
