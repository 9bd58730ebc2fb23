"""Events files (`demo --events`): a bad line is named with its line and field, and the
run stops there or goes on past it, as the user chose; never a traceback."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from flows.events_file import BadLines, EventsFileError, read_events_file

runner = CliRunner()
GOOD = {
    "external_id": "o-1",
    "type": "order.completed",
    "customer_id": "c-1",
    "occurred_at": "2026-03-01T10:15:00Z",
    "source": "shop",
    "customer": {"email": "anna@example.com", "locale": "de"},
}


def _file(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _line(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_a_bad_line_stops_the_run_naming_line_and_field(tmp_path: Path) -> None:
    path = _file(tmp_path, _line(), _line(external_id="o-2", occurred_at="yesterday"), _line())
    with pytest.raises(EventsFileError, match=r"events\.jsonl:2: occurred_at: "):
        list(read_events_file(path))


def test_skipping_goes_on_and_counts_every_bad_line(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        _line(),
        b"not json",
        b"\xff\xfe",
        b"[1, 2]",
        _line(type=""),
        b"",
        _line(external_id="o-9"),
    )
    bad = BadLines()
    events = list(read_events_file(path, on_error="skip", bad=bad))
    assert [e.external_id for e in events] == ["o-1", "o-9"]
    assert bad.count == 4
    assert [reason.split(": ", 1)[0].rsplit(":", 1)[1] for reason in bad.first] == [
        "2",
        "3",
        "4",
        "5",
    ]


def test_the_demo_reports_a_bad_line_without_a_traceback(tmp_path: Path) -> None:
    path = _file(tmp_path, _line(), b'{"type": 5}')
    database = tmp_path / "demo.db"

    stopped = runner.invoke(app, ["demo", "--database", str(database), "--events", str(path)])
    skipped = runner.invoke(
        app,
        ["demo", "--database", str(database), "--events", str(path), "--on-error", "skip"],
    )

    assert stopped.exit_code == 1
    assert "events.jsonl:2:" in " ".join(stopped.output.split())
    assert "Traceback" not in stopped.output
    assert skipped.exit_code == 0, skipped.output
    assert "skipped 1 bad line(s)" in skipped.output
    assert "1 events applied" in skipped.output


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"total": NaN}', "NaN is not a JSON value"),
        (b'{"total": 1e400}', "the number 1e400 is out of range"),
        (b'{"total": ' + b"9" * 5000 + b"}", "an integer of 5000 digits"),
        (b'{"note": "\\ud800"}', "data.note holds a lone UTF-16 surrogate"),
        (b'{"note": "a\\u0000b"}', "data.note holds a NUL character"),
        (b'{"x": ' + b"[" * 100 + b"]" * 100 + b"}", "nests deeper than 32 levels"),
    ],
    ids=["nan", "infinite", "huge-int", "surrogate", "nul", "deep"],
)
def test_a_value_no_store_keeps_is_a_bad_line_not_a_crash_later(
    tmp_path: Path, data: bytes, expected: str
) -> None:
    line = _line(external_id="o-2")[:-1] + b', "data": ' + data + b"}"
    path = _file(tmp_path, _line(), line)
    with pytest.raises(EventsFileError, match=r"events\.jsonl:2: ") as raised:
        list(read_events_file(path))
    assert expected in str(raised.value)


def test_a_file_of_bad_lines_only_is_a_clear_error_when_skipping(tmp_path: Path) -> None:
    path = _file(tmp_path, b"not json", b'{"type": 5}')
    database = tmp_path / "demo.db"
    result = runner.invoke(
        app, ["demo", "--database", str(database), "--events", str(path), "--on-error", "skip"]
    )
    out = " ".join(result.output.split())
    assert result.exit_code == 1, result.output
    assert "events.jsonl: no events to replay (2 bad line(s) skipped)" in out
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "not JSON"),
        (b'{"first_name": "K\xe4the"}', "not UTF-8"),
        (b"[1]", "JSON object"),
    ],
    ids=["not-json", "not-utf8", "not-an-object"],
)
def test_a_customer_file_that_is_not_a_json_object_is_a_clear_error(
    tmp_path: Path, content: bytes, expected: str
) -> None:
    customer = tmp_path / "kunde.json"
    customer.write_bytes(content)
    result = runner.invoke(
        app, ["preview", "customer_lifecycle", "thank_you", "--customer", str(customer)]
    )
    out = "".join(result.output.split())  # the console wraps long paths anywhere
    assert result.exit_code == 1
    assert f"customerfile{customer}" in out and expected.replace(" ", "") in out, out
    assert "Traceback" not in result.output


def test_a_customer_file_with_a_wrong_key_names_the_valid_ones(tmp_path: Path) -> None:
    customer = tmp_path / "kunde.json"
    customer.write_text(json.dumps({"id": "k1", "emial": "k@example.com"}), encoding="utf-8")
    result = runner.invoke(
        app, ["preview", "customer_lifecycle", "thank_you", "--customer", str(customer)]
    )
    out = " ".join(result.output.split())
    assert result.exit_code == 1
    assert "unknown key 'emial' (did you mean 'email'?)" in out
    assert "first_name" in out and "Traceback" not in result.output
    assert "extra_forbidden" not in out and "pydantic" not in out


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    lines=st.lists(
        st.binary(max_size=60)
        | st.builds(
            lambda k, v: json.dumps({**GOOD, k: v}).encode(),
            st.sampled_from([*sorted(GOOD), "data", "extra"]),
            st.none()
            | st.integers()
            | st.floats()
            | st.text(max_size=20)
            | st.lists(st.integers(), max_size=3)
            | st.dictionaries(st.text(max_size=5), st.text(max_size=5) | st.floats(), max_size=3),
        ),
        max_size=8,
    )
)
def test_garbage_lines_are_only_line_numbered_errors(tmp_path: Path, lines: list[bytes]) -> None:
    path = tmp_path / "garbage.jsonl"
    path.write_bytes(b"\n".join(line.replace(b"\n", b" ") for line in lines) + b"\n")
    bad = BadLines()
    events = list(read_events_file(path, on_error="skip", bad=bad))
    assert all(re.match(rf"{re.escape(str(path))}:\d+: \S", reason) for reason in bad.first)
    assert len(events) + bad.count == sum(1 for line in lines if line.replace(b"\n", b" ").strip())
