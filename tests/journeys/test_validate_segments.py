"""The validator on segment entries: every problem named with its file:line, against
the tracking plan, with a did-you-mean; garbage gives problems, never a traceback."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.config import templates_dir
from journeys.loader import PLAN_FILE
from journeys.validate import validate_paths

PLAN = """\
customer:
  last_order_at: {type: datetime}
  orders_total: {type: integer}
  segment: {type: string, values: [b2c, b2b]}
"""
HEAD = "journey: winback\nversion: 1\nname: Win back\nlocale: en\nstages:\n"
TAIL = (
    "    on_enter: [{set_attribute: {segment: b2b}}]\n"
    "  - key: back\n"
    "    enter_when: {after: 1d, from: [lapsed]}\n"
    "    final: true\n"
)


def problems(folder: Path, segment: str, head: str = HEAD) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PLAN_FILE).write_text(PLAN, encoding="utf-8")
    text = head + "  - key: lapsed\n" + f"    enter_when: {{segment: {segment!r}}}\n" + TAIL
    (folder / "winback.yaml").write_text(text, encoding="utf-8")
    report = validate_paths([folder], templates_dir())
    return [f"{Path(p.file).name}:{p.line}: {p.severity} {p.message}" for p in report.problems]


def test_a_sound_segment_passes(tmp_path: Path) -> None:
    assert problems(tmp_path, "customer.last_order_at < now - 90d and orders_total >= 3") == []


def test_an_undeclared_attribute_is_named_with_a_suggestion(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "customer.last_ordr_at < now - 90d")
    assert problem.startswith("winback.yaml:7: error segment: customer attribute 'last_ordr_at'")
    assert "did you mean 'last_order_at'" in problem


def test_a_field_that_is_not_a_date_compared_with_a_time_is_an_error(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "orders_total < now - 90d")
    assert "winback.yaml:7: error" in problem
    assert "customer.orders_total is a integer, not a date" in problem


def test_a_time_compared_with_something_that_is_no_date_never_fires(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "now - 1d > 5")
    assert "5 is not a date" in problem and "never true" in problem


def test_now_against_now_is_a_warning(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "now < now + 1d")
    assert "warning" in problem and "compares now with now" in problem


def test_a_date_that_can_be_missing_under_not_is_a_warning(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "not (customer.last_order_at > now - 90d)")
    assert "warning" in problem and "customers without customer.last_order_at enter" in problem
    guarded = "customer.last_order_at != null and not (customer.last_order_at > now - 90d)"
    assert problems(tmp_path, guarded) == []


def test_a_segment_reads_no_event(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "event.total > 3")
    assert "a segment reads the customer, there is no event" in problem


def test_a_segment_on_a_stage_the_journey_does_not_start_at(tmp_path: Path) -> None:
    head = HEAD.replace("stages:\n", "stages:\n  - key: start\n    enter_when: {event: x.y}\n")
    found = problems(tmp_path, "orders_total >= 3", head)
    assert any(
        ":9: error a segment starts the journey, but the journey starts at start" in p
        for p in found
    )


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.text(alphabet=st.sampled_from(list("now+-d19 .<>=()'customerlast_order_at")), max_size=40)
)
def test_any_segment_text_gives_problems_not_a_traceback(tmp_path: Path, segment: str) -> None:
    for problem in problems(tmp_path / "j", segment):
        assert problem.startswith("winback.yaml:")


def test_the_documented_example_is_valid_and_its_map_starts_at_both_segments() -> None:
    from journeys.journey_map import START, journey_map

    folder = Path(__file__).parents[2] / "docs" / "examples" / "segments"
    report = validate_paths([folder], templates_dir())
    assert report.problems == [] and [j.journey for j in report.journeys] == ["winback"]
    drawn = journey_map(report.journeys[0], "de")
    starts = {e.target: e.labels for e in drawn.edges if e.source == START}
    assert starts == {
        "vip": ["sobald orders total ≥ 3 und country ist ‘DE’"],
        "lapsed": ["sobald last order at < jetzt - 90 Tage und orders total ≥ 1"],
    }
    # A regular who stops ordering moves from vip: an edge between the stages.
    moves = {(e.source, e.target): e.labels for e in drawn.edges if e.source == "vip"}
    assert moves[("vip", "lapsed")] == ["sobald last order at < jetzt - 90 Tage"]


def _moves(folder: Path, trigger: str) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / PLAN_FILE).write_text(PLAN, encoding="utf-8")
    text = (
        HEAD + '  - key: member\n    enter_when: {segment: "orders_total >= 1"}\n'
        "  - key: lapsed\n" + f"    enter_when: {trigger}\n" + TAIL
    )
    (folder / "winback.yaml").write_text(text, encoding="utf-8")
    report = validate_paths([folder], templates_dir())
    return [f"{Path(p.file).name}:{p.line}: {p.severity} {p.message}" for p in report.problems]


def test_a_segment_move_from_a_stage_needs_no_entry_stage(tmp_path: Path) -> None:
    assert _moves(tmp_path, '{segment: "orders_total >= 3", from: [member]}') == []


def test_a_move_from_an_unknown_stage_is_named_with_a_suggestion(tmp_path: Path) -> None:
    problem = _moves(tmp_path, '{segment: "orders_total >= 3", from: [membr]}')[0]
    assert problem.startswith("winback.yaml:9: error unknown stage 'membr'")
    assert "did you mean 'member'" in problem


def test_a_ring_of_segment_moves_is_a_warning(tmp_path: Path) -> None:
    ring = (
        '[{segment: "orders_total >= 3", from: [member, round]}]\n'
        "  - key: again\n"
        '    enter_when: [{segment: "orders_total >= 1", from: [lapsed]}]\n'
        "  - key: round\n"
        "    enter_when: [{segment: \"segment == 'b2b'\", from: [again]}]\n"
    )
    found = _moves(tmp_path, ring)
    [warning] = [p for p in found if "ring" in p]
    assert ": warning segment moves form a ring with no delay: " in warning
    assert "again -> round -> lapsed -> again" in warning
