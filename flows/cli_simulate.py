"""`journeyflow simulate [JOURNEY...] --customers N --days D [--seed S] [--model FILE]`.

Thin over `flows.simulation`: the journeys and the behaviour model are read and
checked here (every problem with its file:line), the simulation runs behind a
progress bar, and its results are printed as tables or `--json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from journeys.errors import JourneyError, JourneyflowError, did_you_mean

from .simulation.defaults import DEFAULT_SHARDS, MIN_SHARD, RENDER_EVERY, RENDER_FIRST

if TYPE_CHECKING:
    from journeys.model import Journey

    from .simulation.results import Results
    from .simulation.run import Run
    from .simulation.simulate import Plan

console = Console()
err_console = Console(stderr=True)


def plan_of(
    keys: list[str],
    model_file: Path | None,
    customers: int,
    days: int,
    seed: int,
    tick: str = "1h",
    render_every: int = RENDER_EVERY,
) -> Plan:
    """The journeys, the checked model and the options as a `Plan`; JourneyError and
    ModelError name every problem, typer.BadParameter a bad option."""
    from journeys.config import definitions_dir
    from journeys.tracking import load_plan
    from journeys.types import parse_duration
    from journeys.validate import load_journeys

    from .demo_journeys import demo_journeys
    from .simulation.model import SHIPPED_MODEL, load_model
    from .simulation.model_check import check_model
    from .simulation.run import cadence_of
    from .simulation.simulate import Plan

    try:
        cadence = cadence_of(parse_duration(tick))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="'--tick'") from None
    every = load_journeys()
    chosen = _pick(every, keys) if keys else demo_journeys(every)[0]
    path = model_file or SHIPPED_MODEL
    model, spots = load_model(path)
    check_model(model, load_plan(definitions_dir()), every, spots, str(path))
    return Plan(chosen, model, customers, days, seed, cadence, render_every=render_every)


def _pick(journeys: list[Journey], keys: list[str]) -> list[Journey]:
    by_key = {j.journey: j for j in journeys}
    for key in keys:
        if key not in by_key:
            raise typer.BadParameter(
                f"no journey '{key}'{did_you_mean(key, by_key)}", param_hint="'JOURNEY'"
            )
    return [by_key[key] for key in dict.fromkeys(keys)]


def simulate_command(
    journeys: Annotated[
        list[str] | None,
        typer.Argument(
            help="Journey keys (default: the journeys the demo runs)", show_default=False
        ),
    ] = None,
    customers: Annotated[
        int, typer.Option(min=1, max=10_000_000, help="How many customers appear")
    ] = 10_000,
    days: Annotated[int, typer.Option(min=1, max=3650, help="How many days to simulate")] = 90,
    seed: Annotated[int, typer.Option(help="The same seed gives the same figures")] = 7,
    model: Annotated[
        Path | None,
        typer.Option(help="Behaviour model (default: the shipped one)", show_default=False),
    ] = None,
    tick: Annotated[
        str, typer.Option(help="Events applied and messages dispatched this often")
    ] = "1h",
    render_every: Annotated[
        int,
        typer.Option(
            min=1,
            help=f"After the first {RENDER_FIRST} messages of a kind, render 1 in N (1: all)",
        ),
    ] = RENDER_EVERY,
    database: Annotated[
        Path | None,
        typer.Option(help="Keep the simulated store in this SQLite file (replaced)"),
    ] = None,
    shards: Annotated[
        int | None,
        typer.Option(
            min=1,
            max=64,
            help=f"Processes sharing the population (default: {DEFAULT_SHARDS} from "
            f"{DEFAULT_SHARDS * MIN_SHARD:,} customers on)",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON")] = False,
) -> None:
    """Simulate customers from a behaviour model through the journeys, on a virtual clock."""
    from .simulation.model import SHIPPED_MODEL, ModelError

    try:
        plan = plan_of(journeys or [], model, customers, days, seed, tick, render_every)
    except ModelError as exc:
        _problems(exc, "behaviour model")
    except JourneyError as exc:
        _problems(exc, "journeys")
    if database is not None and database.is_dir():
        raise typer.BadParameter(f"{database} is a folder; give a file", param_hint="'--database'")
    try:
        results = _run(plan, database, shards, quiet=as_json)
    except JourneyflowError as exc:
        err_console.print(f"[red]error:[/red] {exc}", highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(results.to_json(indent=2))
        return
    _print(results, plan, model or SHIPPED_MODEL, database)


def _problems(exc: JourneyError, what: str) -> None:
    errors = exc.errors
    err_console.print(f"[red]{len(errors)} problem(s) in the {what}:[/red]", highlight=False)
    for problem in errors:
        err_console.print(f"  {problem}", highlight=False, soft_wrap=True, markup=False)
    raise typer.Exit(1)


def _run(plan: Plan, database: Path | None, shards: int | None, *, quiet: bool) -> Results:
    from .simulation.simulate import simulate

    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[events]:,} events"),
        TimeElapsedColumn(),
    )
    # Twice a second, not rich's ten: the bar moves a simulated day at a time, and each
    # redraw takes CPU from the run (a twentieth of it at ten).
    with Progress(
        *columns, console=err_console, transient=True, disable=quiet, refresh_per_second=2
    ) as bar:
        task = bar.add_task("simulating days", total=plan.days, events=0)

        def progress(done: Run) -> None:
            bar.update(task, completed=len(done.days), events=done.events)

        return simulate(plan, database=database, progress=progress, shards=shards)


def _print(results: Results, plan: Plan, model: Path, database: Path | None) -> None:
    from journeys.types import format_duration

    from .demo_kpis import ab_lines
    from .report_tables import sections
    from .simulation.show import (
        days_table,
        held_table,
        limits_table,
        messages_table,
        promo_table,
        stages_table,
    )

    rate = results.events / results.seconds if results.seconds else 0.0
    console.print(
        f"[bold]{results.customers:,} customers[/bold] over {len(results.days)} days "
        f"({results.start:%Y-%m-%d} to {results.end:%Y-%m-%d}) · journeys "
        f"{', '.join(results.journeys)} · model {model} · seed {results.seed} · "
        f"{results.events:,} events in {results.seconds:.1f} s ({rate:,.0f}/s) · dispatched "
        f"every {format_duration(plan.cadence.tick)}",
        highlight=False,
        soft_wrap=True,
    )
    for table in (
        days_table(results),
        messages_table(results),
        held_table(results),
        promo_table(results),
        stages_table(results),
        limits_table(results),
    ):
        if table.row_count:
            console.print(table)
    console.rule("[bold]Funnel and KPIs at the end[/bold]")
    for section in sections(results.report):
        console.rule(section.title)
        for table in section.tables:
            console.print(table)
    for line in ab_lines(results.abtests):
        console.print(line, highlight=False, soft_wrap=True)
    total = results.rendered + results.unrendered
    console.print(
        f"rendered {results.rendered:,} of {total:,} messages through their templates "
        f"(the first {plan.render_first} of each kind, then 1 in {plan.render_every}; "
        "--render-every 1 "
        "renders all)",
        highlight=False,
        soft_wrap=True,
    )
    if database is not None:
        console.print(f"the simulated store: {database} (journeyflow report reads it)")


def register(app: typer.Typer) -> None:
    """Add `journeyflow simulate …` to the command line."""
    app.command("simulate")(simulate_command)
