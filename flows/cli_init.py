"""`journeyflow init DIR`: a marketing team's own journeyflow project, ready to edit.

    journeys/moments_of_truth.yaml   one example journey (the team's journeys live here)
    journeys/tracking_plan.yaml      the events and attributes journeys use (a starting point)
    journeys/tests/moments_of_truth.yaml   its scenario tests (`journeyflow test`)
    templates/de/, templates/en/     the email layouts and the example's templates
    webhooks.yaml                    the webhook sources (secrets from the environment)
    prefect.yaml                     the deployments (entrypoints of the installed package)
    journey.schema.json              for editors: the journeys' `$schema=../journey.schema.json`
    tracking_plan.schema.json        for editors of the tracking plan
    scenario.schema.json             for editors of the scenario files
    .env.example                     every setting, to copy into .env
    README.md                        six lines: validate, test, preview, demo, serve

Every command run in DIR then finds these files there (see journeys/config.py).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from journeys.config import SCENARIOS_FOLDER, SHIPPED_DEFINITIONS, SHIPPED_SCENARIOS, shipped_file

EXAMPLE = "moments_of_truth"
LOCALES = ("de", "en")

ENV_EXAMPLE = """\
# Copy to .env (or set in the environment of `journeyflow serve` and the workers).
JOURNEYFLOW_DATABASE_URL=sqlite:///var/journeyflow.db
JOURNEYFLOW_PUBLIC_URL=https://hooks.example.com
JOURNEYFLOW_LINK_SECRET=change-me-to-a-long-random-string
# The brand customers know: the header of every email and link page.
JOURNEYFLOW_BRAND_NAME=Beispielhandel
# JOURNEYFLOW_BRAND_LOGO_URL=https://www.beispielhandel.de/logo.png
# JOURNEYFLOW_BRAND_LOGO_ALT=Beispielhandel
# JOURNEYFLOW_BRAND_LOGO_WIDTH=160
# JOURNEYFLOW_BRAND_LOGO_HEIGHT=40
# The legal entity: the footer. A German company's business mail must name all of the
# following but the VAT ID (section 35a GmbHG); `journeyflow validate` warns while one is
# empty for a journey that writes in German.
JOURNEYFLOW_COMPANY_NAME=Beispielhandel GmbH
JOURNEYFLOW_COMPANY_ADDRESS=Musterstraße 1, 10115 Berlin
JOURNEYFLOW_COMPANY_WEBSITE=https://www.beispielhandel.de
JOURNEYFLOW_SUPPORT_EMAIL=service@beispielhandel.de
JOURNEYFLOW_COMPANY_REGISTERED_OFFICE=Berlin
JOURNEYFLOW_COMPANY_REGISTER_COURT=Amtsgericht Berlin-Charlottenburg
JOURNEYFLOW_COMPANY_REGISTER_NUMBER=HRB 123456 B
JOURNEYFLOW_COMPANY_MANAGING_DIRECTORS=Erika Mustermann, Jan Beispiel
JOURNEYFLOW_COMPANY_VAT_ID=DE123456789
JOURNEYFLOW_PRIVACY_URL=https://www.beispielhandel.de/datenschutz
JOURNEYFLOW_IMPRINT_URL=https://www.beispielhandel.de/impressum
# Without provider keys every message goes to the outbox folder var/outbox.
# SENDGRID_API_KEY=
# TWILIO_ACCOUNT_SID=
# TWILIO_AUTH_TOKEN=
# TWILIO_FROM_NUMBER=
# JOURNEYFLOW_SHOP_WEBHOOK_SECRET=whsec_...
# Each Prefect worker names its own copy of this folder (an absolute path):
# JOURNEYFLOW_PROJECT_DIR=/srv/our-journeys
"""

README = """\
# Our customer journeys (journeyflow)

    journeyflow validate                              # journeys/, templates/: every problem
    journeyflow test --coverage                       # the scenarios in journeys/tests/
    journeyflow preview {example} thank_you --sample  # a message as the customer sees it
    journeyflow demo                                  # the journeys over sample events
    journeyflow serve                                 # run them (.env.example, prefect.yaml)
"""


class InitError(Exception):
    pass


def scaffold(dest: Path, *, force: bool = False) -> list[Path]:
    """Write a new project into `dest`; the files written. Refuses a non-empty folder."""
    try:
        return _scaffold(dest, force)
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the name
        where = getattr(exc, "filename", None) or dest
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InitError(f"cannot create the project: {_shown(where)}: {reason}") from None


def _shown(path: object) -> str:
    """A path for a message: control characters escaped, umlauts left alone."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(path))


def _scaffold(dest: Path, force: bool) -> list[Path]:
    from journeys.loader import PLAN_FILE, load_journey
    from journeys.model import _MessageAction
    from journeys.schema import schema_text, tracking_schema_text

    from .scenarios.schema import schema_text as scenario_schema_text

    if dest.exists() and not dest.is_dir():
        raise InitError(f"{_shown(dest)} is a file, not a folder; choose a new folder")
    if dest.exists() and any(dest.iterdir()) and not force:
        raise InitError(
            f"{_shown(dest)} is not empty; choose a new folder, or --force to add to it"
        )
    written: list[Path] = []

    def put(path: Path, text: str | None = None, source: Path | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if source is not None:
            shutil.copyfile(source, path)
        else:
            path.write_text(text or "", encoding="utf-8")
        written.append(path)

    example = SHIPPED_DEFINITIONS / f"{EXAMPLE}.yaml"
    put(dest / "journeys" / example.name, source=example)
    put(dest / "journeys" / PLAN_FILE, source=SHIPPED_DEFINITIONS / PLAN_FILE)
    journey = load_journey(example)
    templates = shipped_file("templates")
    names = {
        (name, action.kind)
        for stage in journey.stages
        for action in stage.on_enter
        if isinstance(action, _MessageAction)
        for name in action.templates
    }
    for locale in LOCALES:
        for layout in sorted((templates / locale / "_layouts").glob("*.j2")):
            put(dest / "templates" / locale / "_layouts" / layout.name, source=layout)
        for name, kind in sorted(names):
            source = templates / locale / f"{name}.{kind}.j2"
            put(dest / "templates" / locale / source.name, source=source)
    for name in ("webhooks.yaml", "prefect.yaml"):
        put(dest / name, source=shipped_file(name))
    # Each journey's first line points editors at ../journey.schema.json.
    put(dest / "journey.schema.json", schema_text())
    # The example's scenario tests, pointing editors at the project's copy of the schema.
    lines = (SHIPPED_SCENARIOS / example.name).read_text(encoding="utf-8").splitlines()
    header = "# yaml-language-server: $schema=../../scenario.schema.json"
    lines = [header, *(line for line in lines if not line.startswith("# yaml-language-server"))]
    put(dest / "journeys" / SCENARIOS_FOLDER / example.name, "\n".join(lines) + "\n")
    put(dest / "scenario.schema.json", scenario_schema_text())
    put(dest / "tracking_plan.schema.json", tracking_schema_text())
    put(dest / ".env.example", ENV_EXAMPLE)
    put(dest / "README.md", README.format(example=EXAMPLE))
    return written


def register(app: typer.Typer) -> None:
    """Add `journeyflow init DIR` to the command line."""

    @app.command(name="init")
    def init_command(
        dest: Annotated[Path, typer.Argument(help="Folder for the new project")],
        force: Annotated[
            bool, typer.Option("--force", help="Add the files to a folder that is not empty")
        ] = False,
    ) -> None:
        """Create a project of your own: journeys, templates, webhooks.yaml, prefect.yaml."""
        try:
            written = scaffold(dest, force=force)
        except InitError as exc:
            typer.echo(f"journeyflow init: {exc}", err=True)
            raise typer.Exit(2) from None
        typer.echo(
            f"created {dest} with {len(written)} files; next: cd {dest} && journeyflow validate"
        )
