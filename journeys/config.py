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


def _shipped(name: str) -> Path:
    """A shipped file or folder: the checkout's own, else the packaged copy."""
    in_checkout = PROJECT_ROOT / name
    return in_checkout if in_checkout.exists() else SHIPPED / name


def definitions_dir() -> Path:
    """Journey definitions: JOURNEYFLOW_JOURNEYS, ./journeys/*.yaml, else the shipped ones."""
    configured = os.environ.get("JOURNEYFLOW_JOURNEYS")
    if configured:
        return Path(configured)
    own = Path.cwd() / "journeys"
    if own.is_dir() and any(p.suffix in (".yaml", ".yml") for p in own.iterdir()):
        return own
    return SHIPPED_DEFINITIONS


def templates_dir() -> Path:
    """Message templates: JOURNEYFLOW_TEMPLATES, ./templates, else the shipped ones."""
    configured = os.environ.get("JOURNEYFLOW_TEMPLATES")
    if configured:
        return Path(configured)
    own = Path.cwd() / "templates"
    return own if own.is_dir() else _shipped("templates")


def enabled_journeys() -> list[str] | None:
    """JOURNEYFLOW_ENABLED_JOURNEYS as a list of keys; None when not set."""
    configured = os.environ.get("JOURNEYFLOW_ENABLED_JOURNEYS")
    if configured is None:
        return None
    return [key.strip() for key in configured.split(",") if key.strip()]


def webhooks_file() -> Path:
    """The receiver's sources: JOURNEYFLOW_WEBHOOKS, ./webhooks.yaml, else the shipped one."""
    configured = os.environ.get("JOURNEYFLOW_WEBHOOKS")
    if configured:
        return Path(configured)
    own = Path.cwd() / "webhooks.yaml"
    return own if own.is_file() else _shipped("webhooks.yaml")


def shipped_file(name: str) -> Path:
    """A file shipped with journeyflow (prefect.yaml, webhooks.yaml, templates/…)."""
    return _shipped(name)
