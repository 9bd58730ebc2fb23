"""Bad journey files are journeyflow's own errors with their place, never a traceback,
and each is refused in bounded time and memory; the other files are still validated.

The named cases are the exceptions 5,000 randomly mutated copies of the shipped
journeys once raised; the property test mutates them again.
"""

from __future__ import annotations

import os
import random
import re
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
from journeys.loader import journey_files
from journeys.validate import validate_paths

SHIPPED = sorted(journey_files([definitions_dir()]))
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
        # An apostrophe in a plain value is no quote: brackets after it still nest.
        ("name: Don't\njourney: " + "[" * 3000 + "]" * 3000, "nesting deeper than"),
        ("journey: x\nstages:\n" + "- " * 3000 + "x\n", "nesting deeper than"),
        (
            LIFECYCLE.replace("locale: de", "locale: !!bool de", 1),
            "not a value of the tag '!!bool'",
        ),
        (
            LIFECYCLE.replace("locale: de", "locale: !!int 0x1F", 1),
            "not a value of the tag '!!int'",
        ),
        (LIFECYCLE.replace("email: thank_you", "email: " + "t" * 300, 1), "at most 120 characters"),
        (LIFECYCLE.replace('where: "', 'where: "' + "not " * 3000, 1), "nests too deeply"),
        (LIFECYCLE.replace("Europe/Berlin", "Europe/Berlin" + "9" * 300, 1), "unknown time zone"),
        (LIFECYCLE.replace("locale: de", "locale: d" + "9" * 300, 1), "language code"),
        (LIFECYCLE.replace("locales: [de, en]", "locales: 5", 1), "valid list"),
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
        "deep-after-apostrophe",
        "deep-compact-sequences",
        "bool-tag-on-a-word",
        "int-tag-on-hex",
        "template-name-longer-than-a-file-name",
        "condition-deep-not",
        "time-zone-longer-than-a-file-name",
        "locale-longer-than-a-file-name",
        "locales-not-a-list",
    ],
)
def test_a_hostile_file_is_one_clear_error_in_bounded_time(
    tmp_path: Path, content: bytes | str, expected: str
) -> None:
    started = time.perf_counter()
    errors = _validate(tmp_path, content)
    seconds = time.perf_counter() - started
    assert any(expected in e for e in errors), errors
    assert all(re.match(rf"{re.escape(str(tmp_path))}/bad\.yaml:\d+:\d+ ", e) for e in errors), (
        errors
    )
    # Bounded, not fast: a pathological case takes minutes; a loaded machine, seconds.
    assert seconds < 5, f"took {seconds:.1f} s"


@pytest.mark.parametrize(
    "content",
    [
        _alias_bomb(6),
        _alias_bomb(12),
        "journey: " + "[" * 5000 + "]" * 5000,
        "name: Don't\njourney: " + "[" * 100_000 + "]" * 100_000,
        "journey: x\nstages:\n" + "- " * 100_000 + "x\n",
    ],
    ids=["alias-bomb-6", "alias-bomb-12", "deep-5000", "deep-after-apostrophe", "deep-compact"],
)
def test_alias_bombs_and_deep_nesting_stay_within_memory(tmp_path: Path, content: str) -> None:
    tracemalloc.start()
    try:
        errors = _validate(tmp_path, content)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(errors) == 1, errors
    assert peak < 50_000_000, f"peak {peak / 1e6:.0f} MB"


def test_a_huge_number_in_a_condition_is_a_condition_error(tmp_path: Path) -> None:
    assert "where:" in LIFECYCLE
    text = LIFECYCLE.replace('where: "', 'where: "total > ' + "9" * 5000 + " or ", 1)
    errors = _validate(tmp_path, text)
    assert any("a number of 5000 digits" in e for e in errors), errors


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    errors = _validate(tmp_path, "# " + "x" * 1_100_000 + "\n" + LIFECYCLE)
    assert any("at most 1,000,000" in e for e in errors), errors


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_a_link_to_an_endless_device_is_refused_unread(tmp_path: Path) -> None:
    os.symlink("/dev/zero", tmp_path / "zero.yaml")
    shutil.copy(definitions_dir() / "customer_lifecycle.yaml", tmp_path)
    started = time.perf_counter()
    report = validate_paths([tmp_path], templates_dir())
    assert time.perf_counter() - started < 5
    assert [(Path(p.file).name, p.message) for p in report.problems if p.severity == "error"] == [
        ("zero.yaml", "not a regular file")
    ]
    assert [j.journey for j in report.journeys] == ["customer_lifecycle"]


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
    shipped = len(SHIPPED)
    assert f"{shipped + 1} file(s), {shipped} journey(s) valid, 1 error(s)" in out
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
# Values that keep the file valid YAML up to the field, so the schema, the conditions and
# the template lookup see them too.
_VALUES = [
    "!!bool yes",
    "!!int 0x1F",
    "!!null x",
    "!!timestamp 2001-13-99x",
    "!!python/object:os.system x",
    "!!binary AAAA",
    "t" * 300,
    "9" * 5000,
    "999999999999999999d",
    '"' + "not " * 200 + 'x"',
    '"x > ' + "9" * 5000 + '"',
    "[" * 100 + "]" * 100,
    "Don't " + "[" * 100,
    "- " * 100 + "x",
    "&a [*a]",
    "{<<: *nowhere}",
    "{" + ", ".join(_alias_bomb(8).splitlines()) + "}",
]


@st.composite
def _mutated(draw: st.DrawFn) -> bytes:
    source = SHIPPED[draw(st.integers(0, len(SHIPPED) - 1))].read_bytes()
    data = bytearray(source)
    rng = random.Random(draw(st.integers(0, 2**32)))
    for _ in range(draw(st.integers(1, 4))):
        at = rng.randrange(len(data) + 1)
        choice = rng.randrange(6)
        if choice == 0 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)  # flip a byte
        elif choice == 1:
            data[at:at] = rng.choice(_INSERTS).encode("utf-8", "surrogatepass")
        elif choice == 2:
            del data[at : at + rng.randrange(1, 40)]
        elif choice == 3:
            del data[at:]  # truncated
        elif choice == 4:
            lines = bytes(data).split(b"\n")
            fields = [i for i, line in enumerate(lines) if b": " in line]
            if fields:
                i = rng.choice(fields)
                key = lines[i].split(b": ", 1)[0]
                lines[i] = key + b": " + rng.choice(_VALUES).encode("utf-8")
                data = bytearray(b"\n".join(lines))
        else:
            data[at:at] = draw(st.text(max_size=20)).encode("utf-8", "surrogatepass")
    return bytes(data)


@settings(
    max_examples=30,
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
    assert time.perf_counter() - started < 2
    assert all(p.file == str(path) for p in report.problems)
