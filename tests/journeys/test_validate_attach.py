"""A calendar attachment's fields checked against the tracking plan, with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from journeys.config import templates_dir
from journeys.loader import PLAN_FILE
from journeys.model_attach import CalendarFile
from journeys.validate import validate_paths

PLAN = """\
events:
  registration.created:
    data:
      event_id: {type: string}
      event_name: {type: string}
      starts_at: {type: datetime}
      seats: {type: integer}
      tags: {type: array}
      location: {type: string}
      url: {type: string}
"""

HEAD = """\
journey: reg
version: 1
name: Reg
locale: en
stages:
  - key: registered
    enter_when: {event: registration.created}
    on_enter:
      - email: registration_confirmation
        marketing: false
        attach:
          calendar:
"""


FINAL = "    final: true\n"


def _errors(tmp_path: Path, calendar: str, tail: str = FINAL) -> list[tuple[int | None, str]]:
    folder = tmp_path / "journeys"
    folder.mkdir(parents=True)
    (folder / PLAN_FILE).write_text(PLAN, encoding="utf-8")
    (folder / "j.yaml").write_text(HEAD + calendar + tail, encoding="utf-8")
    shutil.copytree(templates_dir(), tmp_path / "templates")
    report = validate_paths([folder], tmp_path / "templates")
    return [(p.line, p.message) for p in report.problems if p.severity == "error"]


def test_a_well_declared_calendar_is_valid(tmp_path: Path) -> None:
    calendar = (
        "            uid: event.event_id\n"
        "            starts_at: event.starts_at\n"
        "            title: event.event_name\n"
    )
    assert _errors(tmp_path, calendar) == []


def test_a_field_that_is_no_date_and_a_missing_field_are_named_by_line(tmp_path: Path) -> None:
    calendar = (
        "            uid: event.event_id\n"  # line 13
        "            starts_at: event.event_name\n"  # 14: a string, not a datetime
        "            ends_at: event.ends_at\n"  # 15: not in the plan
        "            location: event.tags\n"  # 16: an array, not text
    )
    errors = _errors(tmp_path, calendar)
    assert (
        14,
        "attach.calendar.starts_at: registration.created field 'event_name' is a "
        "string, not a datetime",
    ) in errors
    assert any(
        line == 15 and "'ends_at' is not in the data of 'registration.created'" in message
        for line, message in errors
    )
    assert any(line == 16 and "'tags' is a array, not text" in m for line, m in errors)
    assert len(errors) == 3


def test_a_stage_entered_by_a_schedule_has_no_event_to_build_it_from(tmp_path: Path) -> None:
    calendar = "            uid: event.event_id\n            starts_at: event.starts_at\n"
    tail = (
        "  - key: later\n"
        "    enter_when: {every: '0 9 * * MON', from: [registered]}\n"
        "    on_enter:\n"
        "      - email: registration_changed\n"
        "        attach: {calendar: {uid: event.event_id, starts_at: event.starts_at}}\n"
        "    final: true\n"
    )
    errors = _errors(tmp_path, calendar, tail)
    assert any(
        line == 19 and "a yearly date, a schedule or a move_to enters" in m for line, m in errors
    )


def test_a_request_needs_a_start_and_paths_read_the_event() -> None:
    with pytest.raises(ValidationError, match="needs 'starts_at'"):
        CalendarFile.model_validate({"uid": "event.event_id"})
    with pytest.raises(ValidationError, match="pattern"):
        CalendarFile.model_validate({"uid": "event.id", "starts_at": "customer.birthday"})
    cancel = CalendarFile.model_validate({"uid": "event.event_id", "method": "cancel"})
    assert cancel.fields() == {"uid": "event.event_id"}


def test_a_stage_entered_by_a_wait_builds_it_from_the_event_waited_on(tmp_path: Path) -> None:
    calendar = "            uid: event.event_id\n            starts_at: event.starts_at\n"
    tail = (
        "  - key: later\n"
        "    enter_when: {after: 1d, from: [registered]}\n"
        "    on_enter:\n"
        "      - email: registration_confirmation\n"
        "        key: again\n"
        "        attach: {calendar: {uid: event.event_id, starts_at: event.starts_at}}\n"
        "    final: true\n"
    )
    assert _errors(tmp_path, calendar, tail) == []
