"""Bad journey files are journeyflow's own errors with their place, never a traceback,
and each is refused in bounded time and memory; the other files are still validated.

The named cases are the exceptions 5,000 randomly mutated copies of the shipped
journeys once raised; the property test mutates them again.
"""

from __future__ import annotations

import random
import shutil
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows.cli import app
from journeys.config import definitions_dir, templates_dir
from journeys.validate import validate_paths

SHIPPED = sorted(definitions_dir().glob("*.yaml"))
LIFECYCLE = (definitions_dir() / "customer_lifecycle.yaml").read_text(encoding="utf-8")


def _validate(tmp_path: Path, content: bytes | str, name: str = "bad.yaml") -> list[str]:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    report = validate_paths([path], templates_dir())
    return [f"{p.location} {p.message}" for p in report.problems if p.severity == "error"]


def _alias_bomb(levels: int) -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for n in range(1, levels + 1):
        lines.append(f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (LIFECYCLE.encode("utf-8").replace(b"Kauf", b"K\xe4uf", 1), "not UTF-8"),
        (LIFECYCLE.replace("name:", "name: \x1b", 1), "'\\x1b' is not allowed"),
        ("journey: " + "[" * 5000 + "]" * 5000, "nesting deeper than"),
        ("journey: " + "[" * 900 + "]" * 900, "nesting deeper than"),
        (LIFECYCLE.replace("after: 1d", "after: 999999999999999999d", 1), "longer than"),
        (LIFECYCLE.replace("locale: de", "locale: !!timestamp 2001-13-99x", 1), "!!timestamp"),
        (LIFECYCLE.replace("locale: de", "locale: !!python/object:os.system x", 1), "!!python"),
        ("journey: x\nversion: 1\nstages: &s [*s]\n", "refers to the value that contains it"),
        (_alias_bomb(6), "expands to more than"),
        (_alias_bomb(12), "expands to more than"),
    ],
    ids=[
        "not-utf8",
        "control-char",
        "deep-5000",
        "deep-900",
        "huge-duration",
        "timestamp-tag",
        "python-tag",
        "recursive-alias",
        "alias-bomb-6",
        "alias-bomb-12",
    ],
)
def test_a_hostile_file_is_one_clear_error_in_bounded_time_and_memory(
    tmp_path: Path, content: bytes | str, expected: str
) -> None:
    tracemalloc.start()
    started = time.perf_counter()
    try:
        errors = _validate(tmp_path, content)
    finally:
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert any(expected in e for e in errors), errors
    assert all(e.startswith(str(tmp_path / "bad.yaml")) for e in errors), errors
    assert seconds < 5, f"took {seconds:.1f} s"
    assert peak < 50_000_000, f"peak {peak / 1e6:.0f} MB"


def test_a_huge_number_in_a_condition_is_a_condition_error(tmp_path: Path) -> None:
    assert "where:" in LIFECYCLE
    text = LIFECYCLE.replace('where: "', 'where: "total > ' + "9" * 5000 + " or ", 1)
    errors = _validate(tmp_path, text)
    assert any("a number of 5000 digits" in e for e in errors), errors


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    errors = _validate(tmp_path, "# " + "x" * 1_100_000 + "\n" + LIFECYCLE)
    assert any("at most 1,000,000" in e for e in errors), errors


def test_a_stage_reachable_only_from_a_final_stage_is_a_warning(tmp_path: Path) -> None:
    text = (
        "journey: after_the_end\nversion: 1\nname: After the end\nlocale: de\nstages:\n"
        "  - key: start\n    enter_when: {event: account.created}\n"
        "  - key: done\n    enter_when: {event: order.completed, from: [start]}\n"
        "    final: true\n"
        "  - key: later\n    enter_when: {event: review.submitted, from: [done]}\n"
        "    final: true\n"
    )
    path = tmp_path / "after_the_end.yaml"
    path.write_text(text, encoding="utf-8")
    report = validate_paths([path], templates_dir())
    warnings = [p for p in report.problems if p.severity == "warning"]
    assert [(p.line, "only from the final stage(s) done" in p.message) for p in warnings] == [
        (11, True)
    ]


def test_the_command_reports_a_bad_file_and_still_checks_the_good_ones(tmp_path: Path) -> None:
    folder = tmp_path / "journeys"
    shutil.copytree(definitions_dir(), folder)
    (folder / "broken.yaml").write_bytes(b"journey: broken\nname: \xff\xfe\n")

    result = CliRunner().invoke(app, ["validate", str(folder), "--templates", str(templates_dir())])

    assert result.exit_code == 1
    out = " ".join(result.output.split())
    assert "broken.yaml:2:7 error" in out and "not UTF-8" in out
    assert "6 file(s), 5 journey(s) valid, 1 error(s)" in out
    assert "Traceback" not in result.output


# --- mutated copies of the shipped journeys --------------------------------------------------

_INSERTS = [
    "\x1b",
    "\x00",
    "\ufeff",
    "[" * 70,
    "{" * 70,
    "9" * 5000,
    "999999999999999999d",
    "!!timestamp 2001-13-99x",
    "!!binary AAAA",
    "!!set {a, b}",
    "&x [*x]",
    "*nowhere",
    "<<: *x",
    ": :",
    "'",
    '"',
    "\t",
    "- - -",
    "after: -1d",
    'where: "(((((((((( a"',
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    source = SHIPPED[draw(st.integers(0, len(SHIPPED) - 1))].read_bytes()
    data = bytearray(source)
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 6))):
        at = rng.randrange(len(data) + 1)
        choice = rng.randrange(4)
        if choice == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)  # flip a byte
        elif choice == 1:
            data[at:at] = rng.choice(_INSERTS).encode("utf-8", "surrogatepass")
        elif choice == 2:
            del data[at : at + rng.randrange(1, 40)]
        else:
            data[at:at] = draw(st.text(max_size=20)).encode("utf-8", "surrogatepass")
    return bytes(data)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(content=_mutated())
def test_mutated_journeys_give_only_journey_errors_in_bounded_time(
    tmp_path: Path, content: bytes
) -> None:
    path = tmp_path / "mutated.yaml"
    path.write_bytes(content)
    started = time.perf_counter()
    report = validate_paths([path], templates_dir())  # raises nothing but a bug
    assert time.perf_counter() - started < 5
    assert all(p.file == str(path) for p in report.problems)
