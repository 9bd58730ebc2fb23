"""Where journeys, templates and webhooks.yaml come from: the setting, else the working
directory, else what ships (the packaged copy before anything beside the package)."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeys import config


@pytest.fixture(autouse=True)
def _no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    names = ("JOURNEYFLOW_JOURNEYS", "JOURNEYFLOW_TEMPLATES", "JOURNEYFLOW_WEBHOOKS")
    for name in (*names, "JOURNEYFLOW_SCENARIOS"):
        monkeypatch.delenv(name, raising=False)


def test_the_setting_then_the_working_directory_then_what_ships(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert config.definitions_dir() == config.SHIPPED_DEFINITIONS
    assert config.templates_dir() == config.shipped_file("templates")
    assert config.webhooks_file() == config.shipped_file("webhooks.yaml")

    (tmp_path / "journeys").mkdir()
    (tmp_path / "templates").mkdir()
    (tmp_path / "webhooks.yaml").write_text("sources: {}\n", encoding="utf-8")
    assert config.definitions_dir() == tmp_path / "journeys"
    assert config.templates_dir() == tmp_path / "templates"
    assert config.webhooks_file() == tmp_path / "webhooks.yaml"
    assert config.folders_in_use() == (
        f"journeys: {tmp_path / 'journeys'} · templates: {tmp_path / 'templates'} · "
        f"webhooks: {tmp_path / 'webhooks.yaml'}"
    )

    monkeypatch.setenv("JOURNEYFLOW_JOURNEYS", "/elsewhere/journeys")
    monkeypatch.setenv("JOURNEYFLOW_TEMPLATES", "/elsewhere/templates")
    monkeypatch.setenv("JOURNEYFLOW_WEBHOOKS", "/elsewhere/webhooks.yaml")
    assert config.definitions_dir() == Path("/elsewhere/journeys")
    assert config.templates_dir() == Path("/elsewhere/templates")
    assert config.webhooks_file() == Path("/elsewhere/webhooks.yaml")


def test_a_checkout_is_not_mistaken_for_a_team_project(monkeypatch: pytest.MonkeyPatch) -> None:
    # The checkout's journeys/ is this Python package, not a folder of journeys.
    monkeypatch.chdir(config.PROJECT_ROOT)
    assert config.definitions_dir() == config.SHIPPED_DEFINITIONS


def test_the_packaged_copy_wins_over_a_folder_beside_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Installed, the package's parent is site-packages: a `templates` folder there
    # belongs to some other distribution.
    site = tmp_path / "site-packages"
    (site / "templates").mkdir(parents=True)
    shipped = site / "journeys" / "shipped"
    (shipped / "templates").mkdir(parents=True)
    monkeypatch.setattr(config, "PROJECT_ROOT", site)
    monkeypatch.setattr(config, "SHIPPED", shipped)
    assert config.shipped_file("templates") == shipped / "templates"
    # A checkout has no packaged copy: its own folders are what ships.
    monkeypatch.setattr(config, "SHIPPED", tmp_path / "nothing")
    assert config.shipped_file("templates") == site / "templates"


def test_scenarios_lie_in_the_journeys_folders_tests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert config.scenarios_dir() == config.SHIPPED_SCENARIOS
    assert Path(config.__file__).parent / "tests" == config.SHIPPED_SCENARIOS

    (tmp_path / "journeys").mkdir()
    assert config.scenarios_dir() == tmp_path / "journeys" / "tests"

    monkeypatch.setenv("JOURNEYFLOW_JOURNEYS", "/elsewhere/journeys")
    assert config.scenarios_dir() == Path("/elsewhere/journeys/tests")
    monkeypatch.setenv("JOURNEYFLOW_SCENARIOS", "/elsewhere/scenarios")
    assert config.scenarios_dir() == Path("/elsewhere/scenarios")
