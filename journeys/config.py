"""Where journeyflow finds its journeys and templates (overridable by environment)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def definitions_dir() -> Path:
    """Journey definitions: JOURNEYFLOW_JOURNEYS, else the shipped journeys/definitions."""
    return Path(os.environ.get("JOURNEYFLOW_JOURNEYS") or PROJECT_ROOT / "journeys" / "definitions")


def templates_dir() -> Path:
    """Message templates: JOURNEYFLOW_TEMPLATES, else the project's templates/ folder."""
    return Path(os.environ.get("JOURNEYFLOW_TEMPLATES") or PROJECT_ROOT / "templates")
