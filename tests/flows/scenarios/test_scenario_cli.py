"""`journeyflow test` as a marketer uses it: results like pytest, a readable diff for a
broken scenario, -k, --coverage, and pytest's exit codes."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from journeys.config import SHIPPED_DEFINITIONS, SHIPPED_SCENARIOS
from journeys.loader import load_journey
from journeys.yaml_source import read_yaml

runner = CliRunner()


def scenario_names(path: Path) -> list[str]:
    data, _ = read_yaml(path.read_text(encoding="utf-8"))
    return [s["name"] for s in data["scenarios"]]


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_shipped_scenarios_pass() -> None:
    total = sum(len(scenario_names(p)) for p in SHIPPED_SCENARIOS.glob("*.yaml"))

    result = runner.invoke(app, ["test"])

    assert result.exit_code == 0, result.output
    assert f"collected {total} scenarios" in result.output
    assert result.output.count(" PASSED\n") == total
    assert re.search(rf"=+ {total} passed in [\d.]+s =+", result.output)


def test_a_broken_scenario_fails_with_a_readable_diff(tmp_path: Path) -> None:
    path = tmp_path / "customer_lifecycle.yaml"
    shutil.copy(SHIPPED_SCENARIOS / "customer_lifecycle.yaml", path)
    text = path.read_text(encoding="utf-8")
    name = "an order - thanks at once, setup tips after delivery, a review request with a code"
    start = text.index(f"- name: {name}")
    section = text[start : text.index("- name:", start + 1)]
    broken = (
        section.replace("{at: 4d, stage: evaluation}", "{at: 4d, stage: loyalty}")
        .replace("{email: review_request, at: 4d,", "{email: review_request, at: 3d,")
        .replace('discount: "10%", prefix: DANKE', 'discount: "15%", prefix: DANKE')
    )
    assert broken.count("loyalty") == 1 and "at: 3d" in broken and "15%" in broken
    path.write_text(text.replace(section, broken), encoding="utf-8")
    line = text[:start].count("\n") + 1
    others = len(scenario_names(path)) - 1

    result = runner.invoke(app, ["test", str(path)])

    assert result.exit_code == 1
    out = result.output
    assert f"customer_lifecycle.yaml::{name} FAILED" in words(out)
    assert f"{path}:{line}: {name}" in out
    assert "(times are since the start, Mon 2026-03-02 09:00 Europe/Berlin)" in out
    stages = out[out.index("stages:") : out.index("messages sent:")]
    assert [s.strip() for s in stages.splitlines()[1:]] == [
        "--- expected",
        "+++ actual",
        "@@ -1,3 +1,3 @@",
        "at +0s: decision",
        "at +1d: receiving_offer",
        "-at +4d: loyalty",
        "+at +4d: evaluation",
    ]
    sent = out[out.index("messages sent:") : out.index("promo codes issued:")]
    assert [s.strip() for s in sent.splitlines()[4:]] == [
        "email thank_you at +0s without a promo code",
        "email getting_started at +2d",
        '-email review_request at +3d with a promo code containing "DANKE-"',
        "+email review_request at +4d with a promo code",
    ]
    promo = out[out.index("promo codes issued:") :]
    assert "-promo code DANKE… (campaign review_thanks, 15%, expires +34d)" in promo
    assert "+promo code DANKE… (campaign review_thanks, 10%, expires +34d)" in promo
    assert re.search(rf"=+ 1 failed, {others} passed in [\d.]+s =+", out)


def test_a_message_that_fails_fails_the_scenario_unless_it_is_expected(tmp_path: Path) -> None:
    scenario = """
  - name: {name}
    customer: {{phone: null}}
    events:
      - {{at: 0s, type: order.completed, data: {{channel: online}}}}
      - {{at: 1d, type: order.delivered}}
    until: 5d
"""
    path = tmp_path / "omnichannel_retail.yaml"
    path.write_text(
        "journey: omnichannel_retail\nscenarios:"
        + scenario.format(name="no phone number")
        + scenario.format(name="no phone number, as expected")
        + "    expect:\n      not_sent: [{sms: setup_reminder, because: no phone number}]\n",
        encoding="utf-8",
    )

    result = runner.invoke(app, ["test", str(path)])

    assert result.exit_code == 1
    out = words(result.output)
    assert "no phone number FAILED" in out
    assert "no phone number, as expected PASSED" in out
    assert "messages that failed: sms setup_reminder (due at +4d): no phone number" in out


def test_k_runs_the_scenarios_whose_name_contains_the_text() -> None:
    total = sum(len(scenario_names(p)) for p in SHIPPED_SCENARIOS.glob("*.yaml"))
    chosen = [
        n
        for p in SHIPPED_SCENARIOS.glob("*.yaml")
        for n in scenario_names(p)
        if "referral" in f"{p.name}::{n}".lower()
    ]
    assert chosen

    result = runner.invoke(app, ["test", "-k", "Referral"])

    assert result.exit_code == 0, result.output
    assert result.output.count(" PASSED\n") == len(chosen)
    assert f"{len(chosen)} passed, {total - len(chosen)} deselected" in result.output


def test_coverage_lists_what_no_scenario_reached(tmp_path: Path) -> None:
    path = tmp_path / "moments_of_truth.yaml"
    path.write_text(
        "journey: moments_of_truth\nscenarios:\n"
        "  - name: only an ad click\n    events: [{at: 0s, type: ad.clicked}]\n    until: 1h\n",
        encoding="utf-8",
    )
    journey = load_journey(SHIPPED_DEFINITIONS / "moments_of_truth.yaml")
    triggers = sum(len(s.enter_when) for s in journey.stages) + len(journey.exit) + 1
    actions = sum(len(s.on_enter) for s in journey.stages)

    result = runner.invoke(app, ["test", str(path), "--coverage"])

    assert result.exit_code == 0, result.output
    out = result.output
    # Reached: the stage stimulus, its trigger and its set_attribute action.
    row = f"moments_of_truth 1/{len(journey.stages)} 1/{triggers} 1/{actions} - - "
    assert row in words(out)
    missed = out[out.index("not reached by any scenario:") :]
    assert "    stage zmot\n" in missed
    assert "    trigger fmot ← event order.completed\n" in missed
    assert "    trigger goal ← event review.submitted where rating >= 4\n" in missed
    assert not re.search(r"^    \w+ stimulus\b", missed, re.M)  # what was reached


def test_nothing_to_run_exits_5(tmp_path: Path) -> None:
    empty = runner.invoke(app, ["test", str(tmp_path)])
    nothing = runner.invoke(app, ["test", "-k", "no scenario is called this"])

    assert empty.exit_code == 5
    assert f"no scenario files (*.yaml) in {tmp_path}" in words(empty.output)
    assert nothing.exit_code == 5
    assert "0 passed" in nothing.output


def test_invalid_journeys_are_reported_and_nothing_runs(tmp_path: Path) -> None:
    journeys = tmp_path / "journeys"
    shutil.copytree(SHIPPED_DEFINITIONS, journeys)
    path = journeys / "five_phases.yaml"
    path.write_text(
        path.read_text(encoding="utf-8").replace("after: 1d", "after: 1x"), encoding="utf-8"
    )

    result = runner.invoke(app, ["test", "--journeys", str(journeys)])

    assert result.exit_code == 2
    out = words(result.output)
    assert "five_phases.yaml:" in out and "'1x' is not a duration" in out
    assert "problem(s) in the journeys; nothing ran" in out


def test_a_scenario_that_cannot_run_fails_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A scenario whose clock would need more moments than allowed never ends.
    monkeypatch.setattr("flows.scenarios.runner.MAX_MOMENTS", 3)
    path = tmp_path / "moments_of_truth.yaml"
    events = ", ".join(f"{{at: {n}h, type: page.viewed}}" for n in range(5))
    path.write_text(
        f"journey: moments_of_truth\nscenarios:\n  - name: busy\n    events: [{events}]\n",
        encoding="utf-8",
    )

    result = runner.invoke(app, ["test", str(path)])

    assert result.exit_code == 1
    out = words(result.output)
    assert "::busy FAILED" in out
    assert (
        "the scenario could not run: ScenarioStuck: the scenario did not reach its end "
        "after 3 moments; give it an earlier 'until'" in out
    )
    assert "Traceback" not in result.output
