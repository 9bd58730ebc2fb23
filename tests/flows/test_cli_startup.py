"""The command line starts fast: `journeyflow --version`, `--help` and every command
build all commands first, so a library imported at the top of a command module
would be paid by each of them. Command modules import such libraries where they use them.
"""

from __future__ import annotations

import subprocess
import sys

from flows.cli_report import PURCHASE_EVENT
from journeys.store.reports import ReportOptions

# Libraries that take tens to hundreds of milliseconds to import, each.
HEAVY = {
    "babel",
    "fastapi",
    "graphviz",
    "httpx",
    "icalendar",
    "jinja2",
    "phonenumbers",
    "plotly",
    "prefect",
    "pydantic",
    "scipy",
    "sqlalchemy",
    "sqlmodel",
    "uvicorn",
    "yaml",
}


def test_importing_the_command_line_loads_no_heavy_library() -> None:
    code = "import sys, flows.cli; print(*sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)

    assert done.returncode == 0, done.stderr
    assert sorted(HEAVY.intersection(done.stdout.split())) == []


def test_the_report_command_defaults_to_the_reports_purchase_event() -> None:
    # Written out in `cli_report` for the help, so that it need not import the reports.
    assert ReportOptions.purchase_event == PURCHASE_EVENT
