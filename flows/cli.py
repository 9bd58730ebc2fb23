"""The `journeyflow` command line."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperOption


def _flags_without_type(option: TyperOption, ctx: Any) -> str | None:
    # Typer 0.29 shows every flag as `--once <bool>`, as if it took a value: it does not.
    return None if option.is_flag else _option_type(option, ctx)


_option_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flags_without_type  # type: ignore[method-assign,assignment]

# Every invocation, `--version` included, builds all the commands first. So the command
# modules import their heavy libraries (SQLAlchemy, pydantic, Jinja) inside the commands,
# where only the command that runs pays for them (tests/flows/test_cli_startup.py).
app = typer.Typer(
    name="journeyflow",
    help="Marketing automation driven by customer-journey stage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.command()
def validate(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Journey files or folders (default: the shipped ones)"),
    ] = None,
    templates: Annotated[
        Path | None,
        typer.Option(help="Templates folder (default: JOURNEYFLOW_TEMPLATES or templates/)"),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option(
            "--events",
            help="Also check a JSON Lines file of events against the tracking plan",
        ),
    ] = None,
) -> None:
    """Check journey definitions and print every problem with file:line and a hint."""
    from journeys.config import definitions_dir, templates_dir
    from journeys.validate import validate_paths

    from .cli_options import company_settings

    chosen = paths or [definitions_dir()]
    where = ", ".join(map(str, chosen))
    folders = f"journeys: {where} · templates: {templates or templates_dir()}"
    console.print(folders, highlight=False, soft_wrap=True)
    report = validate_paths(chosen, templates, company_settings())
    if not report.files:
        err_console.print("[red]no journey files found[/red] (looked for *.yaml and *.yml)")
        raise typer.Exit(2)
    errors = [p for p in report.problems if p.severity == "error"]
    warnings = [p for p in report.problems if p.severity != "error"]
    for problem in report.problems:
        colour = "red" if problem.severity == "error" else "yellow"
        console.print(
            f"[bold]{problem.location}[/bold] [{colour}]{problem.severity}[/{colour}] "
            f"[cyan]{problem.field}[/cyan]: {problem.message}",
            highlight=False,
            soft_wrap=True,
        )
    from journeys.errors import Problem

    from .schedules_check import timer_warnings

    for warning in timer_warnings(report.journeys):
        console.print(f"[yellow]warning[/yellow] {warning}", highlight=False, soft_wrap=True)
        warnings.append(Problem(warning, "prefect.yaml", severity="warning"))
    summary = (
        f"{len(report.files)} file(s), {len(report.journeys)} journey(s) valid, "
        f"{len(errors)} error(s), {len(warnings)} warning(s)"
    )
    if events is not None and not _events_fit(events, chosen):
        raise typer.Exit(1)
    if errors:
        console.print(f"[red]✗[/red] {summary}")
        raise typer.Exit(1)
    console.print(f"[green]✓[/green] {summary}")


def _events_fit(path: Path, chosen: list[Path]) -> bool:
    """Print what of the events file does not fit the tracking plan; whether all fits."""
    from journeys.errors import JourneyError
    from journeys.tracking import load_plan

    from .events_check import check_events_file
    from .events_file import EventsFileError

    folder = chosen[0] if chosen[0].is_dir() else chosen[0].parent
    try:
        plan = load_plan(folder)
    except JourneyError:
        return False  # its problems are printed above
    if plan is None:
        err_console.print(f"[red]no tracking plan in {folder}[/red] (tracking_plan.yaml)")
        raise typer.Exit(2)
    try:
        check = check_events_file(path, plan)
    except EventsFileError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    for line in check.problems(plan):
        console.print(
            f"[bold]{path}[/bold] [red]error[/red] {line}", highlight=False, soft_wrap=True
        )
    mark = "[green]✓[/green]" if check.ok else "[red]✗[/red]"
    console.print(
        f"{mark} {check.events} event(s): {sum(check.undeclared.values())} of undeclared "
        f"types, {check.misfits} not fitting the plan, {check.bad.count} bad line(s)"
    )
    return check.ok


@app.command()
def schema(
    write: Annotated[
        bool,
        typer.Option(
            "--write",
            help="Write journeys/journey.schema.json, the reference docs and the scenario "
            "files' schema (flows/scenarios/scenario.schema.json)",
        ),
    ] = False,
    scenarios: Annotated[
        bool,
        typer.Option("--scenarios", help="Print the schema of scenario files instead"),
    ] = False,
) -> None:
    """Print (or write) the JSON Schema of the journey language."""
    from journeys.schema import REFERENCE_PATH, SCHEMA_PATH, schema_text, write_generated

    from .scenarios import schema as scenario_schema

    if write:
        write_generated()
        written = scenario_schema.write_schema()
        console.print(f"wrote {SCHEMA_PATH}, {REFERENCE_PATH} and {written}")
    elif scenarios:
        print(scenario_schema.schema_text(), end="")
    else:
        print(schema_text(), end="")


class _OnError(StrEnum):
    stop = "stop"
    skip = "skip"


@app.command()
def demo(
    database: Annotated[Path, typer.Option(help="SQLite file to (re)create")] = Path("var/demo.db"),
    events: Annotated[
        Path | None, typer.Option(help="JSON-lines event stream (default: the bundled sample)")
    ] = None,
    outbox: Annotated[
        Path | None, typer.Option(help="Folder for the messages (default: next to the database)")
    ] = None,
    on_error: Annotated[
        _OnError,
        typer.Option(help="A bad line in the events file: stop there, or skip it and go on"),
    ] = _OnError.stop,
    customers: Annotated[
        Path | None,
        typer.Option(help="Customers to import first (default with the sample: its own)"),
    ] = None,
    consent: Annotated[
        Path | None,
        typer.Option(help="Their consent, imported next (default with the sample: its own)"),
    ] = None,
) -> None:
    """Run the shipped journeys over a sample event stream and print the stage funnel."""
    import time

    from journeys.config import folders_in_use
    from journeys.errors import JourneyflowError

    from .demo import run_demo
    from .events_file import EventsFileError
    from .sample_data import SAMPLE_PATH

    console.print(folders_in_use(), highlight=False, soft_wrap=True)
    started = time.perf_counter()
    try:
        with console.status("replaying the sample stream day by day ..."):
            report = run_demo(
                database,
                events or SAMPLE_PATH,
                outbox=outbox,
                on_error=on_error.value,
                customers=customers,
                consent=consent,
            )
    except EventsFileError as exc:
        err_console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        if on_error is _OnError.stop:
            err_console.print("(--on-error skip goes on past bad lines)")
        raise typer.Exit(1) from None
    except JourneyflowError as exc:  # customers or consent unreadable, an unknown journey
        err_console.print(f"[red]{exc}[/red]", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    seconds = time.perf_counter() - started
    if report.bad_lines.count:
        console.print(
            f"[yellow]skipped {report.bad_lines.count} bad line(s)[/yellow]", highlight=False
        )
        for reason in report.bad_lines.first:
            console.print(f"  {reason}", highlight=False, soft_wrap=True)
    r = report.result
    names = ", ".join(j.journey for j in report.journeys)
    console.print(f"journeys run: {names} ({report.chosen_by})", highlight=False)
    console.print(
        f"[bold]{len(report.journeys)} journeys[/bold] · {r.events} events applied, "
        f"{r.duplicates} duplicate deliveries ignored · {report.days} days on a virtual clock"
    )
    console.print(
        f"{r.enrolled} enrollments · {r.transitions} stage transitions · {r.timers} timers fired · "
        f"{r.actions_scheduled} actions scheduled, {r.actions_cancelled} of them skipped "
        f"(the customer left the stage before they were due) · {r.ended} enrollments ended"
    )
    funnel = [(f.journey, f.stage, f.current, f.entered) for f in report.funnel]
    console.print(_funnel_table(funnel, "Stage funnel"))
    actions = Table(title="Actions in the outbox")
    for name in ("journey", "kind", "status", "count"):
        actions.add_column(name, justify="right" if name == "count" else "left")
    for (journey, kind, status, why), n in sorted(report.actions.items()):
        actions.add_row(journey, kind, f"{status} ({why})" if why else status, str(n))
    console.print(actions)
    d = report.dispatch
    sent = ", ".join(f"{n} {kind}" for kind, n in d.sent_by_kind().items()) or "no"
    console.print(f"outbox {report.outbox}/: {sent} messages", highlight=False)
    console.print(
        f"dispatched {d.claimed} due actions: {d.outcomes['sent']} sent, "
        f"{d.outcomes['skipped']} skipped, {d.outcomes['failed']} failed, "
        f"{d.outcomes['unknown']} unknown"
    )
    for reason, n in d.reasons.most_common(5):
        console.print(f"  {n} × {reason}", highlight=False)
    _print_send_rules(report)
    if report.insight is not None:
        from .demo_kpis import print_kpis

        print_kpis(console, report)
    console.print(f"database: {report.database} · took {seconds:.1f} s")
    if report.replaced:
        console.print(
            f"(replaced the previous demo results in {report.database} and {report.outbox}/)",
            highlight=False,
        )


from .cli_preview import register as _register_preview  # noqa: E402  (in help's order)

_register_preview(app)  # `journeyflow preview JOURNEY ACTION [--event F] [--screenshot P]`


def _find_journey(ref: str):  # type: ignore[no-untyped-def]
    from journeys.config import definitions_dir
    from journeys.errors import JourneyError, UnknownJourneyError
    from journeys.loader import journey_files, load_journey

    try:
        if ref.endswith((".yaml", ".yml")) or Path(ref).is_file():
            return load_journey(ref)
        known = {}
        for path in journey_files([definitions_dir()]):
            journey = load_journey(path)
            known[journey.journey] = journey
        if ref not in known:
            raise UnknownJourneyError(ref, known)
        return known[ref]
    except (JourneyError, UnknownJourneyError) as exc:
        err_console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None


def _print_send_rules(report: Any) -> None:
    for s in report.imported:
        console.print(
            f"imported first: {s.kind} from {s.path.name}: {s.created} created, "
            f"{s.updated} updated, {s.unchanged} unchanged, {s.rejected} rejected",
            highlight=False,
        )
    held = ", ".join(f"{n} {verb} ({why})" for (verb, why), n in sorted(report.held.items()))
    console.print(
        f"send rules (consent, quiet hours, frequency caps): {held or 'nothing held back'}",
        highlight=False,
    )


def _funnel_table(rows: list[tuple[str, str, int, int]], title: str) -> Table:
    table = Table(title=title)
    for name in ("journey", "stage", "now in stage", "entered ever"):
        table.add_column(name, justify="right" if name.endswith(("stage", "ever")) else "left")
    last = None
    for journey, stage, current, ever in rows:
        table.add_row(journey if journey != last else "", stage, str(current), str(ever))
        last = journey
    return table


from .serve import register as _register_serve  # noqa: E402  (after the commands above)

_register_serve(app)  # `journeyflow serve [--limit N] [--once]`

from .webhooks import register as _register_webhooks  # noqa: E402

_register_webhooks(app)  # `journeyflow webhooks [--host H] [--port P] [--no-process]`

from .cli_messages import register as _register_messages  # noqa: E402

_register_messages(app)  # `journeyflow messages unknown|quarantined|release`

from .cli_init import register as _register_init  # noqa: E402

_register_init(app)  # `journeyflow init DIR`

from .cli_graph import register as _register_graph  # noqa: E402
from .cli_import import register as _register_import  # noqa: E402

_register_graph(app)  # `journeyflow graph JOURNEY [--counts] [-o map.svg]`

_register_import(app)  # `journeyflow import customers|consent|events FILE`

from .cli_test import register as _register_test  # noqa: E402

_register_test(app)  # `journeyflow test [PATH…] [-k NAME] [--coverage]`

from .cli_abtests import register as _register_abtests  # noqa: E402

_register_abtests(app)  # `journeyflow abtests [JOURNEY] [--since --until] [--json]`


def _version(show: bool) -> None:
    if show:
        from importlib.metadata import version

        typer.echo(f"journeyflow {version('journeyflow')}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """Marketing automation driven by customer-journey stage."""


from .cli_customer import register as _register_customer  # noqa: E402

_register_customer(app)  # `journeyflow customer export|erase ID`

from .cli_report import register as _register_report  # noqa: E402

_register_report(app)  # `journeyflow report [JOURNEY] [--since D] [--until D] [--by …] [--json]`

from .cli_versions import register as _register_versions  # noqa: E402

_register_versions(app)  # `journeyflow diff JOURNEY --from 1 --to 2`, `journeyflow migrate …`

from .cli_simulate import register as _register_simulate  # noqa: E402

_register_simulate(app)  # `journeyflow simulate [JOURNEY...] --customers N --days D`


def main() -> None:
    app()
