"""`journeyflow test [PATH…] [-k NAME] [--coverage]`: a journey's scenario tests.

Runs the scenario files (`journeys/tests/<journey>.yaml`) through the production engine,
store (in memory) and send rules on a fake clock, and prints the results like pytest:
a line per scenario, a diff per failure, a summary. Exit codes as pytest's: 0 all
passed, 1 a scenario failed, 2 a file could not be read (nothing ran), 5 no scenario
was selected.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)

EXIT_FAILED, EXIT_BAD_FILE, EXIT_NOTHING = 1, 2, 5


def register(app: typer.Typer) -> None:
    """Add `journeyflow test` to the command line."""

    @app.command(name="test")
    def test_command(
        paths: Annotated[
            list[Path] | None,
            typer.Argument(help="Scenario files or folders (default: journeys/tests/)"),
        ] = None,
        keyword: Annotated[
            str | None,
            typer.Option("-k", help="Only scenarios whose 'file::name' contains this text"),
        ] = None,
        coverage: Annotated[
            bool,
            typer.Option(
                "--coverage",
                help="Also list the stages, triggers, actions, A/B variants and branches "
                "that no scenario reached",
            ),
        ] = False,
        journeys: Annotated[
            Path | None,
            typer.Option(help="Journeys folder (default: JOURNEYFLOW_JOURNEYS or journeys/)"),
        ] = None,
        templates: Annotated[
            Path | None,
            typer.Option(help="Templates folder (default: JOURNEYFLOW_TEMPLATES or templates/)"),
        ] = None,
    ) -> None:
        """Run the journeys' scenario tests on a fake clock and print the results."""
        raise typer.Exit(run_tests(paths, keyword, coverage, journeys, templates))


def run_tests(
    paths: list[Path] | None,
    keyword: str | None,
    coverage: bool,
    journeys: Path | None,
    templates: Path | None,
) -> int:
    """The command's work; returns its exit code."""
    from journeys.config import definitions_dir, scenarios_dir, templates_dir
    from journeys.errors import JourneyError

    from .scenarios.report import print_coverage, print_failures, print_result, print_summary
    from .scenarios.source import ScenarioError
    from .scenarios.suite import load_suite, run_suite, scenario_files

    journeys_dir = journeys or definitions_dir()
    templates_dir_ = templates or templates_dir()
    chosen = paths or [scenarios_dir()]
    where = ", ".join(map(str, chosen))
    console.print(
        f"journeys: {journeys_dir} · templates: {templates_dir_} · scenarios: {where}",
        highlight=False,
        soft_wrap=True,
    )
    files = scenario_files(chosen)
    if not files:
        err_console.print(f"no scenario files (*.yaml) in {where}", highlight=False)
        return EXIT_NOTHING
    try:
        suite = load_suite(files, journeys_dir, templates_dir_)
    except (ScenarioError, JourneyError) as exc:
        for problem in exc.problems:
            err_console.print(
                f"[bold]{escape(problem.location)}[/bold] [cyan]{escape(problem.field)}[/cyan]: "
                f"{escape(problem.message)}",
                highlight=False,
                soft_wrap=True,
            )
        what = "scenario files" if isinstance(exc, ScenarioError) else "journeys"
        err_console.print(f"[red]✗ {len(exc.problems)} problem(s) in the {what}; nothing ran")
        return EXIT_BAD_FILE
    cases = list(suite.cases())
    selected = sum(1 for c in cases if c.selected(keyword))
    deselected = f" ({len(cases) - selected} deselected)" if selected < len(cases) else ""
    console.print(f"collected {len(cases)} scenarios{deselected}", highlight=False)
    console.print()
    outcome = run_suite(
        suite,
        keyword,
        every_journey=paths is None and keyword is None,
        on_result=lambda result: print_result(console, result),
    )
    print_failures(console, outcome.failed)
    if coverage:
        print_coverage(console, outcome.coverage)
    print_summary(console, outcome)
    if outcome.failed:
        return EXIT_FAILED
    return EXIT_NOTHING if not outcome.results else 0
