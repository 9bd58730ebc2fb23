"""`journeyflow import customers|consent|events FILE`: bulk import, thin over `importing`.

A progress bar with rows/s and the time left (from the bytes read), then the summary:
created, updated, unchanged, rejected, and where the rejects file is. Exit code 0 when
every row was taken, 1 when some were rejected, 2 when the file as a whole could not be
read (the message names the file and what is wrong).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from journeys.errors import JourneyflowError

if TYPE_CHECKING:
    from .import_columns import Kind
    from .importing import ImportSummary

console = Console()
err_console = Console(stderr=True)
import_app = typer.Typer(
    name="import",
    help="Bulk import of customers, their consent and past events (CSV or JSON Lines).",
    no_args_is_help=True,
)


class _Format(StrEnum):
    csv = "csv"
    jsonl = "jsonl"


FileArg = Annotated[Path, typer.Argument(help="CSV with a header line, or JSON Lines")]
FormatOpt = Annotated[
    _Format | None, typer.Option("--format", help="csv or jsonl (default: by the extension)")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="A column of the file under another name: OLD=NEW (repeatable)"),
]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Check and count everything, write nothing")
]


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        rows = int(task.fields.get("rows", 0))
        elapsed = task.elapsed or 0.0
        speed = f"{rows / elapsed:,.0f} rows/s" if elapsed > 0 else "– rows/s"
        return Text(f"{rows:,} rows · {speed}", style="progress.data.speed")


def run_import(
    kind: Kind, path: Path, fmt: _Format | None, mapping: list[str] | None, dry_run: bool
) -> ImportSummary:
    from journeys.store import create_schema, database_url, get_engine

    from .import_columns import parse_map
    from .importing import import_file

    registry = None
    if kind in ("events", "customers") and not dry_run:
        from .runtime import open_store

        store = open_store()
        engine, registry = store.engine, store.registry
    else:
        engine = get_engine(database_url())
        create_schema(engine)
    columns = [
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        _RowsPerSecond(),
        TimeElapsedColumn(),
        TextColumn("·"),
        TimeRemainingColumn(),
        TextColumn("left"),
    ]
    size = path.stat().st_size if path.is_file() else None
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(f"importing {kind}", total=size or None, rows=0)

        def progress(rows: int, position: int) -> None:
            bar.update(task, completed=position, rows=rows)

        return import_file(
            kind,
            path,
            engine,
            fmt=fmt.value if fmt else None,
            mapping=parse_map(mapping or []),
            dry_run=dry_run,
            registry=registry,
            progress=progress,
        )


def _command(
    kind: Kind, path: Path, fmt: _Format | None, mapping: list[str] | None, dry_run: bool
) -> None:
    try:
        summary = run_import(kind, path, fmt, mapping, dry_run)
    except JourneyflowError as exc:
        err_console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    _print(summary)
    if summary.rejected:
        raise typer.Exit(1)


def _print(s: ImportSummary) -> None:
    head = f"{s.kind} from {s.path}" + (" (dry run: nothing written)" if s.dry_run else "")
    console.print(head, highlight=False, soft_wrap=True)
    console.print(
        f"{s.rows:,} rows: {s.created:,} created, {s.updated:,} updated, "
        f"{s.unchanged:,} unchanged, {s.rejected:,} rejected",
        highlight=False,
    )
    for note, n in s.notes.most_common():
        console.print(f"  {n:,} × {note}", highlight=False)
    if s.applied is not None:
        a = s.applied
        console.print(
            f"applied: {a.events:,} events, {a.transitions:,} stage transitions, "
            f"{a.actions_scheduled:,} actions scheduled",
            highlight=False,
        )
    for reason in s.first_rejects:
        console.print(f"  [yellow]{reason}[/yellow]", highlight=False, soft_wrap=True)
    if s.rejects_file is not None:
        console.print(
            f"rejected rows with line and reason: {s.rejects_file} "
            "(correct them there and import that file)",
            highlight=False,
            soft_wrap=True,
        )


@import_app.command("customers")
def customers_command(
    path: FileArg, fmt: FormatOpt = None, map: MapOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Customers by their id: created, or updated with the fields given."""
    _command("customers", path, fmt, map, dry_run)


@import_app.command("consent")
def consent_command(
    path: FileArg, fmt: FormatOpt = None, map: MapOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Consent records with their proof (suppressed addresses stay suppressed)."""
    _command("consent", path, fmt, map, dry_run)


@import_app.command("events")
def events_command(
    path: FileArg, fmt: FormatOpt = None, map: MapOpt = None, dry_run: DryRunOpt = False
) -> None:
    """Past events, through the inbox (a duplicate is dropped), then applied."""
    _command("events", path, fmt, map, dry_run)


def register(app: typer.Typer) -> None:
    """Add `journeyflow import …` to the command line."""
    app.add_typer(import_app)
