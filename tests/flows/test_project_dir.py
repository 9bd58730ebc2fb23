"""The pull step of prefect.yaml: a flow run starts in the folder its worker names, and a
worker that names none (or a bad one) gets a message saying what to set. The run on a
real worker is in test_jobs.py (test_a_worker_runs_the_deployed_flows_…)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.project_dir import VARIABLE, ProjectDirError, enter_project, project_dir
from journeys.config import PROJECT_ROOT


def test_the_flow_run_changes_into_the_named_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setenv(VARIABLE, str(tmp_path))
    assert enter_project() == {"directory": str(tmp_path)}
    assert Path.cwd() == tmp_path


@pytest.mark.parametrize(
    ("value", "says"),
    [
        (None, "is not set in the worker's environment"),
        ("", "is not set in the worker's environment"),
        ("team", "must be an absolute path"),
        ("/no/such/folder", "is not a folder on this machine"),
    ],
)
def test_a_worker_without_a_usable_folder_is_told_what_to_set(
    value: str | None, says: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    if value is None:
        monkeypatch.delenv(VARIABLE, raising=False)
    else:
        monkeypatch.setenv(VARIABLE, value)
    with pytest.raises(ProjectDirError, match=VARIABLE) as caught:
        enter_project()
    assert says in str(caught.value)
    assert Path.cwd() == tmp_path  # nowhere else


def test_prefect_yaml_uses_this_step_and_pins_no_path() -> None:
    spec = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert spec["pull"] == [{"flows.project_dir.enter_project": {}}]
    assert str(PROJECT_ROOT) not in (PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_value_is_a_folder_or_a_clear_error(value: str) -> None:
    try:
        found = project_dir({VARIABLE: value})
    except ProjectDirError as exc:
        assert VARIABLE in str(exc)
    else:
        assert found.is_absolute() and found.is_dir()
        assert found.samefile(os.path.expanduser(value.strip()))
