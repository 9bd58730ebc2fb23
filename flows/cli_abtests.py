"""`journeyflow abtests [JOURNEY] [--since --until] [--json]`: the A/B tests' results.

Per test (journey, stage, action): each variant's recipients, conversions and rate with
its 95 % interval, the uplift against the holdout with its interval, the probability
to be best, and the decision. Thin over `journeys.store.abtests.ab_results`; the
methods are in docs/ab-tests.md.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from journeys.errors import UnknownJourneyError

if TYPE_CHECKING:
    from journeys.abverdict import AbTestResult, ArmResult

console = Console()


def abtests(
    journey: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[AbTestResult]:
    """The A/B tests of the configured store, for customers assigned in [since, until)."""
    from journeys.store import create_schema, database_url, get_engine, session_scope
    from journeys.store.abtests import ab_results

    engine = get_engine(database_url())
    create_schema(engine)
    with session_scope(engine, readonly=True) as session:
        return ab_results(session, journey, since, until)


def parse_moment(value: str | datetime, *, now: datetime | None = None) -> datetime:
    """An ISO date or time (UTC unless it names a zone), or a duration ago such as 30d."""
    if isinstance(value, datetime):  # a default, already parsed
        return value
    from journeys.types import parse_duration

    text = value.strip()
    try:
        return (now or datetime.now(UTC)) - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither a date or time (2026-03-01, 2026-03-01T09:00+01:00) "
            "nor a duration ago (30d, 12h)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _interval(low: float | None, high: float | None, scale: float, unit: str) -> str:
    if low is None or high is None:
        return ""
    return f" [{low * scale:+.1f} … {high * scale:+.1f}{unit}]"


def _rate(arm: ArmResult) -> str:
    if arm.rate is None:
        return "–"
    low, high = arm.rate_low or 0.0, arm.rate_high or 0.0
    return f"{arm.rate:.1%} [{low:.1%} … {high:.1%}]"


def _uplift(arm: ArmResult) -> str:
    vs = arm.vs_holdout
    if vs is None:
        return "–"
    text = f"{vs.absolute * 100:+.1f} pp" + _interval(vs.absolute_low, vs.absolute_high, 100, "")
    if vs.relative is not None:
        text += f"\n{vs.relative:+.0%}" + _interval(vs.relative_low, vs.relative_high, 100, " %")
    return text


def _best(arm: ArmResult) -> str:
    if arm.retired:
        return "retired"
    p = arm.probability_to_be_best
    if p is None:
        return "–"
    shown = f"{p:.1%}"
    return ">99.9%" if shown == "100.0%" and p < 1 else shown


def table(result: AbTestResult) -> Table:
    title = (
        f"{result.journey} · {result.stage} · {result.action}: {result.metric} within "
        f"{result.within} (winner at ≥ {result.min_sample:,} per variant and "
        f"≥ {result.threshold:.0%} probability to be best)"
    )
    out = Table(title=title, title_justify="left", caption_justify="left")
    for name in ("variant", "recipients", "conversions", "rate [95 %]", "vs holdout [95 %]"):
        out.add_column(name, justify="left" if name == "variant" else "right")
    out.add_column("P(best)", justify="right")
    for arm in result.arms:
        name = f"{arm.variant} (holdout)" if arm.holdout else arm.variant
        out.add_row(
            name,
            f"{arm.recipients:,}",
            f"{arm.conversions:,}",
            _rate(arm),
            _uplift(arm),
            _best(arm),
        )
    out.caption = result.decision.text
    return out


def abtests_command(
    journey: Annotated[
        str | None, typer.Argument(help="Only this journey's tests (default: every journey)")
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_moment,
            metavar="WHEN",
            help="Customers assigned from this date or time, or this long ago (30d)",
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            parser=parse_moment,
            metavar="WHEN",
            help="…and before this date or time, or this long ago",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON for other tools")] = False,
) -> None:
    """A/B tests: each variant's conversion, uplift against the holdout, and the decision."""
    if since is not None and until is not None and until <= since:
        raise typer.BadParameter("--until must come after --since", param_hint="'--until'")
    try:
        results = abtests(journey, since, until)
    except UnknownJourneyError as exc:
        console.print(f"[red]{exc}[/red]", highlight=False)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps([r.model_dump(mode="json") for r in results], indent=2))
        return
    if not results:
        where = f"journey {journey}" if journey else "the stored journeys"
        console.print(f"no A/B tests in {where}: no message action has variants")
        return
    for result in results:
        console.print(table(result))
        console.print()


def register(app: typer.Typer) -> None:
    """Add `journeyflow abtests …` to the command line."""
    app.command("abtests")(abtests_command)
