"""`journeyflow init DIR`: a team's own project, found by every command from its folder.
The same from an installed wheel: tests/test_wheel.py."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows import runtime
from flows.cli import app
from flows.cli_init import InitError, scaffold
from journeys.config import SHIPPED_DEFINITIONS
from journeys.loader import load_journey
from journeys.store import dispose_engines

runner = CliRunner()


@pytest.fixture
def team(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A project made by `init`, the working directory, with no journeyflow settings."""
    for name in list(os.environ):
        if name.startswith("JOURNEYFLOW_"):
            monkeypatch.delenv(name)
    folder = tmp_path / "team"
    scaffold(folder)
    monkeypatch.chdir(folder)
    runtime.forget()
    yield folder
    runtime.forget()
    dispose_engines()


def test_init_lays_out_a_project_of_its_own(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "ours")])
    assert result.exit_code == 0, result.output
    ours = tmp_path / "ours"
    journeys = sorted(p.name for p in (ours / "journeys").iterdir())
    assert journeys == ["moments_of_truth.yaml", "tests", "tracking_plan.yaml"]
    assert [p.name for p in (ours / "journeys" / "tests").iterdir()] == ["moments_of_truth.yaml"]
    for locale in ("de", "en"):
        assert (ours / "templates" / locale / "_layouts" / "email.j2").is_file()
        assert (ours / "templates" / locale / "thank_you.email.j2").is_file()
    for name in ("webhooks.yaml", "prefect.yaml", ".env.example", "README.md"):
        assert (ours / name).is_file(), name
    # The example tells editors where its schema is; it is there.
    journey = ours / "journeys" / "moments_of_truth.yaml"
    first = journey.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../journey.schema.json"
    schema = json.loads((journey.parent / "../journey.schema.json").read_text(encoding="utf-8"))
    assert "stages" in schema["properties"]
    plan = ours / "journeys" / "tracking_plan.yaml"
    assert (
        plan.read_text(encoding="utf-8")
        .splitlines()[0]
        .endswith("$schema=../tracking_plan.schema.json")
    )
    plan_schema = json.loads((ours / "tracking_plan.schema.json").read_text(encoding="utf-8"))
    assert "events" in plan_schema["properties"]
    scenarios = ours / "journeys" / "tests" / "moments_of_truth.yaml"
    first = scenarios.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../scenario.schema.json"
    schema = json.loads((scenarios.parent / "../../scenario.schema.json").read_text("utf-8"))
    assert "scenarios" in schema["properties"]
    assert len((ours / "README.md").read_text(encoding="utf-8").strip().splitlines()) <= 7
    assert "cd " in result.output and "journeyflow validate" in result.output


def test_the_project_s_scenarios_run_from_its_folder(team: Path) -> None:
    result = runner.invoke(app, ["test", "--coverage"])

    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"scenarios: {team / 'journeys' / 'tests'}" in out
    assert "journeys/tests/moments_of_truth.yaml::" in out
    journey = load_journey(team / "journeys" / "moments_of_truth.yaml")
    stages, actions = len(journey.stages), sum(len(s.on_enter) for s in journey.stages)
    triggers = sum(len(s.enter_when) for s in journey.stages) + len(journey.exit) + 1  # goal
    row = f"moments_of_truth {stages}/{stages} {triggers}/{triggers} {actions}/{actions}"
    assert f"{row} - - 100%" in out


def test_every_command_uses_the_project_in_the_working_directory(team: Path) -> None:
    validate = runner.invoke(app, ["validate"])
    assert validate.exit_code == 0, validate.output
    out = " ".join(validate.output.split())
    assert f"journeys: {team / 'journeys'} · templates: {team / 'templates'}" in out
    assert "1 file(s), 1 journey(s) valid, 0 error(s)" in out

    (team / "templates" / "de" / "thank_you.email.j2").write_text(
        (team / "templates" / "de" / "thank_you.email.j2")
        .read_text(encoding="utf-8")
        .replace("{% block subject %}", "{% block subject %}Unser Dank: "),
        encoding="utf-8",
    )
    preview = runner.invoke(
        app, ["preview", "moments_of_truth", "thank_you", "--sample", "--locale", "de"]
    )
    assert preview.exit_code == 0, preview.output
    assert "Subject: Unser Dank: " in preview.stdout  # the team's template, not the shipped
    assert f"webhooks: {team / 'webhooks.yaml'}" in " ".join(preview.stderr.split())

    once = runner.invoke(app, ["serve", "--once"])
    assert once.exit_code == 0, once.output
    assert f"journeys: {team / 'journeys'}" in " ".join(once.output.split())
    assert (team / "var" / "journeyflow.db").is_file()


def test_a_team_without_journeys_gets_none_of_the_shipped_ones(team: Path) -> None:
    (team / "journeys" / "moments_of_truth.yaml").unlink()
    result = runner.invoke(app, ["validate"])
    assert result.exit_code == 2
    assert "no journey files found" in result.output
    assert str(SHIPPED_DEFINITIONS) not in result.output


def test_init_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "notes.txt").write_text("ours", encoding="utf-8")
    refused = runner.invoke(app, ["init", str(ours)])
    assert refused.exit_code == 2
    assert "is not empty" in refused.output and "--force" in refused.output
    assert [p.name for p in ours.iterdir()] == ["notes.txt"]

    forced = runner.invoke(app, ["init", str(ours), "--force"])
    assert forced.exit_code == 0, forced.output
    assert (ours / "journeys" / "moments_of_truth.yaml").is_file()
    assert (ours / "notes.txt").read_text(encoding="utf-8") == "ours"


def test_init_names_a_file_in_the_way_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file", encoding="utf-8")
    for target, says in (
        (tmp_path / "taken", "is a file, not a folder"),
        (tmp_path / "taken" / "below", "cannot create the project"),
    ):
        result = runner.invoke(app, ["init", str(target)])
        assert result.exit_code == 2, result.output
        assert says in result.output and result.exception is not None
        assert isinstance(result.exception, SystemExit)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# No "/" and no "..": every name stays inside the temporary folder.
@given(
    st.text(st.characters(blacklist_characters="/"), min_size=1, max_size=300).filter(
        lambda name: name != ".."
    )
)
def test_any_folder_name_is_a_project_or_a_clear_error(name: str) -> None:
    with tempfile.TemporaryDirectory() as where:
        try:
            written = scaffold(Path(where) / name)
        except InitError as exc:
            assert "cannot create the project" in str(exc) or "not empty" in str(exc)
            assert "\x00" not in str(exc)
        else:
            assert all(path.is_file() for path in written)
