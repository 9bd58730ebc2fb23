"""The scenario files' JSON Schema: committed as generated, and what editors check the
shipped files against."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.scenarios.schema import SCHEMA_PATH, json_schema, schema_text
from flows.scenarios.source import ScenarioError, parse_scenarios
from journeys.config import SHIPPED_SCENARIOS
from journeys.yaml_source import read_yaml


def test_the_committed_schema_matches_the_model() -> None:
    # If this fails, run `journeyflow schema --write` and commit the result.
    assert SCHEMA_PATH.read_text(encoding="utf-8") == schema_text()
    jsonschema.Draft202012Validator.check_schema(json_schema())


def test_the_command_prints_it() -> None:
    result = CliRunner().invoke(app, ["schema", "--scenarios"])

    assert result.exit_code == 0
    assert json.loads(result.output) == json_schema()


@pytest.mark.parametrize("path", sorted(SHIPPED_SCENARIOS.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenario_files_point_editors_at_the_schema_and_keep_to_it(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first = text.splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    assert (path.parent / first[len(prefix) :]).resolve() == SCHEMA_PATH
    data, _ = read_yaml(text, str(path))
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []


@pytest.mark.parametrize(
    "text",
    [
        "journey: x\nscenarios: [{name: a, events: [{at: 1d, typ: order.completed}]}]\n",
        "journey: x\nscenarios: [{name: a, expect: {sent: [{emial: thank_you}]}}]\n",
        "journey: x\nscenarios: [{name: a, customer: {consent: {mail: subscribed}}}]\n",
        "journey: x\n",
    ],
)
def test_the_schema_refuses_what_the_loader_refuses(text: str) -> None:
    data, _ = read_yaml(text)
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))

    with pytest.raises(ScenarioError):
        parse_scenarios(text)
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) != []
