"""`journeyflow report [JOURNEY] [--since D] [--until D] [--by locale|country] [--json]
[--html FILE]`.

Thin over `journeys.store.reports.build_report` (via `load_report`, which tests and
the other outputs call) and, for the HTML page, `flows.insight.collect_insight` and
`flows.report_html`: options are parsed and checked here, every figure comes from
the store.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from journeys.errors import JourneyflowError

if TYPE_CHECKING:
    from journeys.store.reports import Report, ReportOptions, Segment

    from .insight import Insight

console = Console()
err_console = Console(stderr=True)

# `ReportOptions.purchase_event`, written out: importing the store's reports for the
# default shown in the help would slow every command down (a test keeps the two equal).
PURCHASE_EVENT = "order.completed"


class By(StrEnum):
    locale = "locale"
    country = "country"


SEGMENT_OF: dict[By | None, Segment] = {By.locale: "locale", By.country: "country"}


def parse_moment(value: str, option: str) -> datetime:
    """An ISO 8601 date (midnight UTC) or date and time (UTC unless it names a zone)."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"'{value}' is no date: give 2026-09-01 or 2026-09-01T08:00:00+02:00",
            param_hint=f"'{option}'",
        ) from None
    try:
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)
    except OverflowError:
        raise typer.BadParameter(
            f"'{value}' lies outside the years 1 to 9999 in UTC", param_hint=f"'{option}'"
        ) from None


def load_report(
    journey: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: Segment | None = None,
    version: int | None = None,
    options: ReportOptions | None = None,
) -> Report:
    """The report over the configured database (JOURNEYFLOW_DATABASE_URL)."""
    from journeys.store import create_schema, database_url, get_engine, session_scope
    from journeys.store.reports import build_report

    engine = get_engine(database_url())
    create_schema(engine)
    with session_scope(engine, readonly=True) as session:
        return build_report(session, journey, since, until, by, version=version, options=options)


def load_insight(
    journey: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: Segment | None = None,
    version: int | None = None,
    options: ReportOptions | None = None,
) -> Insight:
    """The report with its trend, A/B tests and maps, over the configured database."""
    from sqlalchemy import make_url

    from journeys.store import create_schema, database_url, get_engine, session_scope

    from .insight import collect_insight

    engine = get_engine(database_url())
    create_schema(engine)
    where = make_url(database_url()).render_as_string(hide_password=True)
    with session_scope(engine, readonly=True) as session:
        return collect_insight(
            session, journey, since, until, by, version=version, options=options, database=where
        )


def report_command(
    journey: Annotated[
        str | None, typer.Argument(help="Journey key (default: every journey)")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(help="Start of the period, inclusive: 2026-09-01 (UTC) or an ISO time"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(help="End of the period, exclusive (default: now)"),
    ] = None,
    by: Annotated[
        By | None, typer.Option(help="Split every figure by the customers' locale or country")
    ] = None,
    version: Annotated[
        int | None, typer.Option(min=1, help="Only this version of the journey")
    ] = None,
    purchase_event: Annotated[
        str, typer.Option(help="The event that is a purchase, for CRR")
    ] = PURCHASE_EVENT,
    lookback: Annotated[
        str, typer.Option(help="CRR's look-back window: a customer bought within it")
    ] = "365d",
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the report as JSON (for other tools)")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html",
            metavar="FILE",
            help="Write the report as one HTML page with charts, KPI trends, A/B results "
            "and journey maps; it opens offline in any browser",
        ),
    ] = None,
) -> None:
    """Funnel, time in stage, CSAT, NPS, CRR, reviews, promo codes and messages."""
    from sqlalchemy import make_url

    from journeys.store import database_url
    from journeys.store.reports import ReportError, ReportOptions
    from journeys.types import parse_duration

    from .report_tables import sections

    start = parse_moment(since, "--since") if since is not None else None
    end = parse_moment(until, "--until") if until is not None else None
    try:
        window = parse_duration(lookback)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--lookback'") from None
    try:
        options = ReportOptions(purchase_event=purchase_event, lookback=window)
        scope = (journey, start, end, SEGMENT_OF.get(by), version, options)
        insight = load_insight(*scope) if html is not None else None
        report = insight.report if insight is not None else load_report(*scope)
    except ReportError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    except JourneyflowError as exc:  # an unknown journey, a database URL that is none
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if insight is not None and html is not None:
        _write_page(insight, html)
    if as_json:
        typer.echo(report.to_json(indent=2))
    if as_json or html is not None:
        return
    period = f"{report.since:%Y-%m-%d %H:%M} UTC" if report.since else "the beginning"
    where = make_url(database_url()).render_as_string(hide_password=True)
    console.print(
        f"report from {period} until {report.until:%Y-%m-%d %H:%M} UTC · {where}",
        highlight=False,
        soft_wrap=True,
    )
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    shown = sections(report)
    if not shown:
        console.print("nothing recorded in this period")
    for section in shown:
        console.rule(f"[bold]{section.title}[/bold]")
        for table in section.tables:
            console.print(table)


def _write_page(insight: Insight, path: Path) -> None:
    from .report_html import write_html

    try:
        write_html(insight, path)
    except OSError as exc:
        err_console.print(
            f"[red]error:[/red] --html: cannot write {path}: {exc.strerror or exc}",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1) from None
    # On stderr: with --json, stdout carries the JSON alone.
    err_console.print(
        f"wrote {path} (one file: open it in a browser, it needs no network)",
        highlight=False,
        soft_wrap=True,
    )


def register(app: typer.Typer) -> None:
    """Add `journeyflow report …` to the command line."""
    app.command("report")(report_command)
