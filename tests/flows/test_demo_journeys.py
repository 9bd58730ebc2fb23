"""The demo runs one coherent set of journeys and says which; a team's folder or the
setting chooses as in production, and a setting naming no journey stops it cleanly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.demo_journeys import DEMO_JOURNEYS, demo_journeys
from flows.sample_data import generate
from journeys.config import definitions_dir


def test_with_the_shipped_journeys_the_demo_runs_one_coherent_set() -> None:
    """One lifecycle, the opt-in, and the journeys no other sends the same message in."""
    journeys, why = demo_journeys()
    assert sorted(j.journey for j in journeys) == sorted(DEMO_JOURNEYS)
    assert "customer_lifecycle" in DEMO_JOURNEYS and "five_phases" not in DEMO_JOURNEYS
    assert "JOURNEYFLOW_ENABLED_JOURNEYS" in why  # it says how to run others


def test_the_setting_and_a_teams_folder_choose_as_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "five_phases")
    assert [j.journey for j in demo_journeys()[0]] == ["five_phases"]
    monkeypatch.delenv("JOURNEYFLOW_ENABLED_JOURNEYS")

    team = tmp_path / "journeys"
    team.mkdir()
    for name, extra in (("moments_of_truth", ""), ("omnichannel_retail", "enabled: false\n")):
        source = (definitions_dir() / f"{name}.yaml").read_text(encoding="utf-8")
        (team / f"{name}.yaml").write_text(
            source.replace("\nstages:", f"\n{extra}stages:", 1), encoding="utf-8"
        )
    monkeypatch.setenv("JOURNEYFLOW_JOURNEYS", str(team))
    journeys, why = demo_journeys()
    assert [j.journey for j in journeys] == ["moments_of_truth"]
    assert "enabled: false" in why


def test_a_setting_naming_no_journey_stops_the_demo_and_keeps_the_last_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(json.dumps(e) + "\n" for e in generate(customers=2, seed=3)), encoding="utf-8"
    )
    database = tmp_path / "d.db"
    database.write_bytes(b"the last demo's results")
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "customer_lifecyle")

    result = CliRunner().invoke(app, ["demo", "--database", str(database), "--events", str(events)])

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)  # a message, not a traceback
    assert "did you mean 'customer_lifecycle'" in result.output
    assert database.read_bytes() == b"the last demo's results"
