"""`load_journeys` validates the same bytes once, for the process and the processes after
it, and any changed byte of a journey, the tracking plan, a template or the checking
code is validated again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import journeys.validate as validate
import journeys.validate_cache as validate_cache
from journeys.config import definitions_dir, templates_dir
from journeys.errors import JourneyError
from journeys.tracking import plan_path
from journeys.validate import load_journeys

KEPT = ("customer_lifecycle.yaml", "birthday_club.yaml", "newsletter_opt_in.yaml")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, list[int]]:
    """Copies of three shipped journeys, the tracking plan and the templates, and how
    often they were validated (three journeys: each validation checks their templates)."""
    (tmp_path / "journeys").mkdir()
    for name in (*KEPT, plan_path(definitions_dir()).name):
        shutil.copy(definitions_dir() / name, tmp_path / "journeys" / name)
    shutil.copytree(templates_dir(), tmp_path / "templates")
    calls: list[int] = []
    real = validate.validate_paths

    def counting(*args: object, **kwargs: object) -> validate.Report:
        calls.append(1)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(validate, "validate_paths", counting)
    monkeypatch.setenv(validate_cache.CACHE_ENV, str(tmp_path / "cache"))
    return tmp_path / "journeys", tmp_path / "templates", calls


def _new_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a process after this one starts with: nothing validated in memory."""
    monkeypatch.setattr(validate_cache, "_kept", type(validate_cache._kept)())


def test_the_same_bytes_are_validated_once(project: tuple[Path, Path, list[int]]) -> None:
    folder, templates, calls = project
    first = load_journeys([folder], templates)
    second = load_journeys([folder], templates)
    assert len(calls) == 1
    assert second == first and second is not first  # a list of its own, the same journeys
    assert [j.journey for j in first] == sorted(j.journey for j in first)


def test_a_changed_template_is_validated_again_and_its_error_raised(
    project: tuple[Path, Path, list[int]],
) -> None:
    folder, templates, calls = project
    load_journeys([folder], templates)
    thank_you = next(templates.rglob("thank_you*"))
    thank_you.write_text(thank_you.read_text(encoding="utf-8") + "{{ customer.contry }}")
    with pytest.raises(JourneyError, match="contry"):
        load_journeys([folder], templates)
    with pytest.raises(JourneyError, match="contry"):  # an error is never kept
        load_journeys([folder], templates)
    assert len(calls) == 3


def test_a_changed_journey_or_plan_is_validated_again(
    project: tuple[Path, Path, list[int]],
) -> None:
    folder, templates, calls = project
    load_journeys([folder], templates)
    for path in (folder / "customer_lifecycle.yaml", plan_path(folder)):
        path.write_text(path.read_text(encoding="utf-8") + "\n# edited\n", encoding="utf-8")
        load_journeys([folder], templates)
    assert len(calls) == 3
    broken = folder / "birthday_club.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\n  - [unclosed\n")
    with pytest.raises(JourneyError, match=r"birthday_club\.yaml"):
        load_journeys([folder], templates)


def test_the_enabled_journeys_setting_is_part_of_what_was_validated(
    project: tuple[Path, Path, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, templates, calls = project
    load_journeys([folder], templates)
    monkeypatch.setenv("JOURNEYFLOW_ENABLED_JOURNEYS", "customer_lifecycle,newsleter_opt_in")
    with pytest.raises(JourneyError, match="did you mean 'newsletter_opt_in'"):
        load_journeys([folder], templates)
    monkeypatch.delenv("JOURNEYFLOW_ENABLED_JOURNEYS")
    load_journeys([folder], templates)
    assert len(calls) == 2


def test_the_next_process_takes_them_from_the_disk(
    project: tuple[Path, Path, list[int]], tmp_path: Path
) -> None:
    folder, templates, calls = project
    first = load_journeys([folder], templates)
    assert len(calls) == 1
    # A process of its own whose check would fail: it finds the journeys on the disk.
    code = (
        "import sys, pathlib, journeys.validate as v\n"
        "v.validate_paths = lambda *a, **k: sys.exit('validated again')\n"
        f"found = v.load_journeys([{str(folder)!r}], pathlib.Path({str(templates)!r}))\n"
        "print(*[j.journey for j in found])"
    )
    env = {**os.environ, validate_cache.CACHE_ENV: str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [j.journey for j in first]


def test_what_the_disk_gives_back_is_what_was_validated(
    project: tuple[Path, Path, list[int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, templates, calls = project
    first = load_journeys([folder], templates)
    _new_process(monkeypatch)
    again = load_journeys([folder], templates)
    assert len(calls) == 1
    assert again == first


def test_a_damaged_file_or_other_code_is_validated_again(
    project: tuple[Path, Path, list[int]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, templates, calls = project
    first = load_journeys([folder], templates)
    [written] = (tmp_path / "cache").glob("validated-*.json")
    for damage in (b"", b"{not json", b'[{"journey": 1}]', b"[" * 100_000):
        written.write_bytes(damage)
        _new_process(monkeypatch)
        assert load_journeys([folder], templates) == first
    assert len(calls) == 5
    # Whole again: the check wrote it anew.
    _new_process(monkeypatch)
    load_journeys([folder], templates)
    assert len(calls) == 5
    # Another version of the checking code does not take this one's word for it.
    monkeypatch.setattr(validate_cache, "code_digest", lambda: "another version")
    _new_process(monkeypatch)
    load_journeys([folder], templates)
    assert len(calls) == 6


def test_a_failed_check_is_not_written_and_off_writes_nothing(
    project: tuple[Path, Path, list[int]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, templates, calls = project
    broken = folder / "birthday_club.yaml"
    broken.write_text(broken.read_text(encoding="utf-8") + "\n  - [unclosed\n")
    with pytest.raises(JourneyError):
        load_journeys([folder], templates)
    assert list((tmp_path / "cache").glob("validated-*")) == []
    monkeypatch.setenv(validate_cache.CACHE_ENV, "off")
    broken.write_text(broken.read_text(encoding="utf-8").replace("  - [unclosed\n", ""))
    load_journeys([folder], templates)
    assert len(calls) == 2
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(garbage=st.binary(max_size=2000) | _json.map(lambda v: json.dumps(v).encode()))
def test_any_bytes_in_a_cache_file_are_read_as_nothing(garbage: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        patch.setenv(validate_cache.CACHE_ENV, folder)
        validate_cache._file(Path(folder), "key").write_bytes(garbage)
        assert validate_cache._read("key") is None


def test_without_a_home_folder_nothing_is_kept_on_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker in a container may run as a user with neither HOME nor a passwd entry.
    monkeypatch.delenv(validate_cache.CACHE_ENV, raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)

    def no_home() -> Path:
        raise RuntimeError("Could not determine home directory.")

    monkeypatch.setattr(Path, "home", staticmethod(no_home))
    assert validate_cache.cache_dir() is None
    monkeypatch.setenv("XDG_CACHE_HOME", "/var/cache")
    assert validate_cache.cache_dir() == Path("/var/cache/journeyflow")


def test_a_cache_folder_that_cannot_be_written_costs_only_the_check(
    project: tuple[Path, Path, list[int]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder, templates, calls = project
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv(validate_cache.CACHE_ENV, str(tmp_path / "a-file" / "cache"))
    first = load_journeys([folder], templates)
    _new_process(monkeypatch)
    assert load_journeys([folder], templates) == first
    assert len(calls) == 2
