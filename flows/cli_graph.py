"""`journeyflow graph JOURNEY`: the journey map, for marketers (or `--technical`).

Plain words in the journey's language, drawn by Graphviz as SVG or PNG (or written as
DOT or Mermaid); `--counts` adds the customers per stage and per way from the store.
Thin over `journeys.journey_map` and `journeys.map_draw`, which tests call.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

if TYPE_CHECKING:
    from journeys.tracking import TrackingPlan

console = Console()
_SUFFIXES = {".svg": "svg", ".png": "png", ".dot": "dot", ".gv": "dot", ".mmd": "mermaid"}


def register(app: typer.Typer) -> None:
    @app.command()
    def graph(
        journey: Annotated[str, typer.Argument(help="Journey key, or a path to its YAML file")],
        output: Annotated[
            Path | None,
            typer.Option(
                "--output",
                "-o",
                help="Write here; the suffix picks the format (.svg .png .dot .mmd, or .md "
                "for Mermaid in Markdown); default: Mermaid on stdout",
            ),
        ] = None,
        fmt: Annotated[
            str | None,
            typer.Option("--format", "-f", help="svg, png, dot or mermaid (default: by suffix)"),
        ] = None,
        locale: Annotated[str | None, typer.Option(help="Language of the labels")] = None,
        technical: Annotated[
            bool, typer.Option("--technical", help="Event types and conditions as written")
        ] = False,
        counts: Annotated[
            bool,
            typer.Option(
                "--counts", help="Customers per stage and per way, from JOURNEYFLOW_DATABASE_URL"
            ),
        ] = False,
    ) -> None:
        """Draw a journey map: its stages, what happens in them and the ways between."""
        from journeys.journey_map import journey_map, with_counts
        from journeys.map_draw import FORMATS, DrawingError, render

        from .cli import _find_journey

        chosen = fmt or (_SUFFIXES.get(output.suffix.lower()) if output else None) or "mermaid"
        if chosen not in FORMATS:
            console.print(f"[red]--format {chosen}: choose one of {', '.join(FORMATS)}[/red]")
            raise typer.Exit(2)
        if output is None and chosen == "png":
            console.print("[red]PNG is binary: give a file with -o map.png[/red]")
            raise typer.Exit(2)
        definition = _find_journey(journey)
        drawn = journey_map(definition, locale, technical=technical, plan=_plan(journey))
        if counts:
            drawn = with_counts(drawn, *_counts(definition.journey))
        try:
            data = render(drawn, chosen)
        except DrawingError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(1) from None
        if output is None:
            sys.stdout.write(data.decode("utf-8"))
            return
        if output.suffix.lower() == ".md" and chosen == "mermaid":
            data = b"```mermaid\n" + data + b"```\n"
        try:
            output.write_bytes(data)
        except OSError as exc:
            console.print(f"[red]cannot write {output}: {exc.strerror}[/red]")
            raise typer.Exit(1) from None
        console.print(f"wrote {output}")


def _plan(ref: str) -> TrackingPlan | None:
    """The tracking plan beside the journey (its file's folder, or the journeys folder)."""
    from journeys.config import definitions_dir
    from journeys.errors import JourneyError
    from journeys.tracking import load_plan

    folder = Path(ref).parent if ref.endswith((".yaml", ".yml")) else definitions_dir()
    try:
        return load_plan(folder)
    except (JourneyError, OSError):
        return None  # `validate` names the plan's problems; the map does without it


def _counts(
    journey: str,
) -> tuple[dict[str, tuple[int, int]], dict[tuple[str | None, str], int]]:
    from journeys.errors import UnknownJourneyError
    from journeys.store import get_engine, session_scope
    from journeys.store.state.map_counts import map_counts

    try:
        with session_scope(get_engine(), readonly=True) as session:
            return map_counts(session, journey)
    except UnknownJourneyError:
        # Not run yet on this store: the map with zeros says so.
        return {}, {}
