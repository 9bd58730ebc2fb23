"""Where journeyflow finds its journeys, templates and webhooks.yaml.

In this order: the setting (JOURNEYFLOW_JOURNEYS, JOURNEYFLOW_TEMPLATES,
JOURNEYFLOW_WEBHOOKS); else the team's own project in the working directory (the layout
`journeyflow init` creates: `journeys/*.yaml`, `templates/<locale>/`, `webhooks.yaml`);
else what ships with journeyflow (in a source checkout, the repository's folders; in an
installed package, copies packed into `journeys/shipped/`). So the same commands work
from a checkout, from a team's repository, and from any folder after `pip install`.
"""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The shipped templates, webhooks.yaml and prefect.yaml inside an installed package.
SHIPPED = Path(__file__).resolve().parent / "shipped"
SHIPPED_DEFINITIONS = Path(__file__).resolve().parent / "definitions"
# Scenario tests of the shipped journeys (`journeyflow test`), one file per journey.
SHIPPED_SCENARIOS = Path(__file__).resolve().parent / "tests"
# The folder inside a journeys folder that holds its scenario tests, not journeys.
SCENARIOS_FOLDER = "tests"


def _shipped(name: str) -> Path:
    """A shipped file or folder: the packaged copy, else the checkout's own."""
    # The packaged copy first: in an installed package PROJECT_ROOT is site-packages,
    # where another distribution may well have put a `templates` folder of its own.
    packaged = SHIPPED / name
    return packaged if packaged.exists() else PROJECT_ROOT / name


def definitions_dir() -> Path:
    """Journey definitions: JOURNEYFLOW_JOURNEYS, ./journeys/*.yaml, else the shipped ones."""
    configured = os.environ.get("JOURNEYFLOW_JOURNEYS")
    if configured:
        return Path(configured)
    own = Path.cwd() / "journeys"
    # A team's folder is theirs even while it holds no journey yet: running the shipped
    # journeys instead would send messages nobody on the team wrote. A `journeys/` with
    # an __init__.py is this package's source (the working directory is a checkout).
    if own.is_dir() and not (own / "__init__.py").exists():
        return own
    return SHIPPED_DEFINITIONS


def scenarios_dir() -> Path:
    """Scenario tests: JOURNEYFLOW_SCENARIOS, else `tests/` in the journeys folder (a
    team's `journeys/tests/`), else the shipped journeys' own."""
    configured = os.environ.get("JOURNEYFLOW_SCENARIOS")
    if configured:
        return Path(configured)
    journeys = definitions_dir()
    if journeys == SHIPPED_DEFINITIONS:
        return SHIPPED_SCENARIOS
    return (journeys if not journeys.is_file() else journeys.parent) / SCENARIOS_FOLDER


def templates_dir() -> Path:
    """Message templates: JOURNEYFLOW_TEMPLATES, ./templates, else the shipped ones."""
    configured = os.environ.get("JOURNEYFLOW_TEMPLATES")
    if configured:
        return Path(configured)
    own = Path.cwd() / "templates"
    return own if own.is_dir() else _shipped("templates")


def enabled_journeys() -> list[str] | None:
    """JOURNEYFLOW_ENABLED_JOURNEYS as a list of keys; None when not set."""
    configured = os.environ.get("JOURNEYFLOW_ENABLED_JOURNEYS", "")
    keys = [key.strip() for key in configured.split(",") if key.strip()]
    # Empty counts as not set, as for the other settings: a blank line in .env must not
    # quietly switch every journey off.
    return keys or None


def webhooks_file() -> Path:
    """The receiver's sources: JOURNEYFLOW_WEBHOOKS, ./webhooks.yaml, else the shipped one."""
    configured = os.environ.get("JOURNEYFLOW_WEBHOOKS")
    if configured:
        return Path(configured)
    own = Path.cwd() / "webhooks.yaml"
    return own if own.is_file() else _shipped("webhooks.yaml")


def folders_in_use() -> str:
    """One line naming the journeys, templates and webhooks.yaml the commands use."""
    return (
        f"journeys: {definitions_dir()} · templates: {templates_dir()} · "
        f"webhooks: {webhooks_file()}"
    )


def shipped_file(name: str) -> Path:
    """A file shipped with journeyflow (prefect.yaml, webhooks.yaml, templates/…)."""
    return _shipped(name)
