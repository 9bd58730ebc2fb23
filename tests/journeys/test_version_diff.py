"""What changed between two versions of a journey (journeys/version_diff.py)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_migrate import V1, V2, journey

from journeys.version_diff import diff_journeys


def stages_by_how(data_old: dict[str, Any], data_new: dict[str, Any]) -> dict[str, list[Any]]:
    diff = diff_journeys(journey(data_old), journey(data_new))
    found: dict[str, list[Any]] = {}
    for stage in diff.stages:
        found.setdefault(stage.how, []).append((stage.old, stage.new))
    return found


def test_added_removed_and_renamed_by_the_mapping() -> None:
    found = stages_by_how(V1, V2)
    assert found["renamed"] == [("active", "buyer")]
    assert found["removed"] == [("legacy", None)]
    assert found["added"] == [(None, "vip")]
    assert ("signup", "signup") in found["changed"]


def test_a_rename_without_a_mapping_is_found_by_its_content() -> None:
    old = copy.deepcopy(V1)
    new = copy.deepcopy(V1)
    new["version"] = 2
    new["stages"][1]["key"] = "buyer"
    new["stages"][3]["enter_when"]["from"] = ["buyer"]  # follows the rename

    diff = diff_journeys(journey(old), journey(new))

    [renamed] = [s for s in diff.stages if s.how == "renamed"]
    assert (renamed.old, renamed.new, renamed.renamed) == ("active", "buyer", "content")
    # The trigger that names the renamed stage is not a change.
    assert [s.how for s in diff.stages if s.old == "dormant"] == ["unchanged"]
    assert not diff.has_migration


def test_triggers_and_actions_changed_by_key() -> None:
    diff = diff_journeys(journey(V1), journey(V2))
    [signup] = [s for s in diff.stages if s.old == "signup"]
    changes = {c.key: c for c in signup.actions}
    assert {k: c.change for k, c in changes.items()} == {
        "late": "removed",
        "keep": "removed",
        "nudge": "changed",
    }
    assert set(changes["nudge"].details) == {
        "after: 2d -> 3d",
        "webhook: https://example.org/nudge -> https://example.org/nudge2",
    }
    [dormant] = [s for s in diff.stages if s.old == "dormant"]
    assert dormant.triggers_removed == ("no_event_for 30d from [buyer]",)
    assert dormant.triggers_added == ("no_event_for 20d from [buyer]",)


def test_triggers_in_another_order_are_a_change() -> None:
    old = copy.deepcopy(V1)
    old["stages"][2]["enter_when"] = [
        {"event": "review.submitted"},
        {"event": "survey.answered", "where": "score >= 4"},
    ]
    new = copy.deepcopy(old)
    new["version"] = 2
    new["stages"][2]["enter_when"].reverse()

    [legacy] = [s for s in diff_journeys(journey(old), journey(new)).stages if s.old == "legacy"]

    assert legacy.how == "changed" and legacy.triggers_reordered
    assert not legacy.triggers_added and not legacy.triggers_removed


def test_moves_and_other_fields() -> None:
    new = copy.deepcopy(V2)
    new["migrations"] = [{"from_version": 1, "stages": {"active": "buyer", "signup": "vip"}}]
    new["goal"] = {"event": "subscription.started"}
    new["settings"] = {"quiet_hours": "21:00-08:00"}

    diff = diff_journeys(journey(V1), journey(new))

    assert diff.moves == (("signup", "vip"),)
    assert set(diff.other) == {"goal", "settings"}


@pytest.mark.parametrize("data", [V1, V2])
def test_a_version_compared_with_itself_has_no_changes(data: dict[str, Any]) -> None:
    same = {**copy.deepcopy(data), "version": data["version"] + 1}
    diff = diff_journeys(journey(data), journey(same))
    assert not diff.changed
    assert all(s.how == "unchanged" for s in diff.stages)


def test_every_kind_of_trigger_reads_in_one_line() -> None:
    from journeys.model import ScheduleTrigger, SegmentTrigger, YearlyTrigger
    from journeys.version_diff import trigger_text

    assert trigger_text(
        ScheduleTrigger.model_validate({"every": "0 9 * * MON", "from": ["a"]})
    ) == ('every "0 9 * * MON" from [a]')
    assert (
        trigger_text(SegmentTrigger(segment="orders_total >= 3")) == 'segment "orders_total >= 3"'
    )
    moved = SegmentTrigger.model_validate({"segment": "x > 1", "from": ["a"]})
    assert trigger_text(moved, {"a": "b"}) == 'segment "x > 1" from [b]'
    yearly = YearlyTrigger.model_validate({"every_year": "customer.birthday", "from": ["a"]})
    assert trigger_text(yearly) == "every_year customer.birthday at 09:00 from [a]"
