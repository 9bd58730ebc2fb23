"""The pytest plugin, from a team's own project and test suite (pytest's `pytester`)."""

from __future__ import annotations

import pytest

from flows.cli_init import scaffold

pytest_plugins = ["pytester"]

TEAM_TESTS = """
import pytest

from flows.testing import ScenarioFailed, event


def test_an_order_is_thanked_for_at_once(journeyflow):
    run = journeyflow.run(
        "moments_of_truth",
        events=[event("order.completed", total=80), event("order.delivered", at="1d")],
        until="3d",
    )

    assert [s.message.name for s in run.sent] == ["thank_you", "getting_started"]
    assert run.stage_at("12h") == "fmot"
    assert run.stage_at("1d") == "smot"


def test_our_scenario_files_pass(journeyflow):
    assert journeyflow.check_scenarios() == 6


def test_a_check_that_fails_shows_the_diff(journeyflow):
    with pytest.raises(ScenarioFailed) as failed:
        journeyflow.check(
            "moments_of_truth",
            events=[event("order.completed")],
            until="1h",
            expect={"sent": [{"email": "getting_started"}]},
        )

    assert "-email getting_started" in str(failed.value)
    assert "+email thank_you at +0s" in str(failed.value)


def test_this_one_fails_on_purpose(journeyflow):
    journeyflow.check(
        "moments_of_truth",
        events=[event("ad.clicked")],
        until="1h",
        expect={"stages": [{"at": "0s", "stage": "zmot"}]},
    )
"""


@pytest.fixture
def team(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project as `journeyflow init` lays it out, with a test file of the team's."""
    scaffold(pytester.path, force=True)
    pytester.makepyfile(test_journeys=TEAM_TESTS)
    return pytester


def test_a_team_s_suite_drives_its_journeys_with_the_fixture(team: pytest.Pytester) -> None:
    result = team.runpytest("-p", "no:cacheprovider")

    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_this_one_fails_on_purpose*",
            "*ScenarioFailed*",
            "*-at +0s: zmot*",
            "*+at +0s: stimulus*",
        ]
    )


def test_the_plugin_can_be_switched_off(team: pytest.Pytester) -> None:
    result = team.runpytest("-p", "no:journeyflow", "-p", "no:cacheprovider")

    result.assert_outcomes(errors=4)
    result.stdout.fnmatch_lines(["*fixture 'journeyflow' not found*"])
