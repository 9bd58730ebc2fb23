"""Results the way pytest shows them: a line per scenario, the failures with their diffs,
journey coverage, and a summary line."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from .coverage import KINDS, JourneyCoverage
from .expect import Failure
from .suite import Outcome, Result, shown_path

WIDTH = 78


def _rule(text: str, fill: str = "=") -> str:
    text = f" {text} " if text else ""
    left = max(3, (WIDTH - len(text)) // 2)
    return fill * left + text + fill * max(3, WIDTH - left - len(text))


def print_result(console: Console, result: Result) -> None:
    word = "[green]PASSED[/green]" if result.passed else "[red]FAILED[/red]"
    console.print(f"{escape(result.case.id)} {word}", highlight=False, soft_wrap=True)


def failure_text(result: Result) -> list[str]:
    """What went wrong in one scenario: where it is, then each failed expectation."""
    case = result.case
    lines = [f"{shown_path(case.source.path)}:{case.line or 1}: {case.scenario.name}"]
    if result.error is not None:
        return [*lines, f"the scenario could not run: {result.error}"]
    if result.run is not None:
        lines.append(f"(times are since the start, {result.run.timeline.describe()})")
    for failure in result.failures:
        lines += section(failure)
    return lines


def section(failure: Failure) -> list[str]:
    return [f"{failure.title}:", *(f"  {line}" for line in failure.lines)]


def print_failures(console: Console, failed: Sequence[Result]) -> None:
    if not failed:
        return
    console.print()
    console.print(_rule("FAILURES"), highlight=False)
    for result in failed:
        console.print(_rule(result.case.id, "_"), highlight=False, soft_wrap=True, markup=False)
        for line in failure_text(result):
            style = "red" if line.startswith("  -") else "green" if line.startswith("  +") else None
            if line.startswith(("  ---", "  +++")):
                style = None
            console.print(line, style=style, highlight=False, soft_wrap=True, markup=False)


def print_coverage(console: Console, coverage: dict[str, JourneyCoverage]) -> None:
    console.print()
    console.print(_rule("journey coverage", "-"), highlight=False)
    width = max([len("journey"), *map(len, coverage)])
    names = ("stages", "triggers", "actions", "variants", "branches")
    console.print(f"{'journey':<{width}} " + " ".join(f"{n:>9}" for n in names) + "  total")
    for key, cov in coverage.items():
        cells = []
        for kind in KINDS:
            reached, total = cov.counts(kind)
            cells.append(f"{f'{reached}/{total}' if total else '-':>9}")
        note = "" if cov.scenarios else "  no scenarios"
        row = f"{key:<{width}} {' '.join(cells)}  {cov.percent():4.0f}%{note}"
        console.print(row, highlight=False, soft_wrap=True)
    missed = [cov for cov in coverage.values() if cov.scenarios and cov.missed()]
    if missed:
        console.print()
        console.print("not reached by any scenario:", highlight=False)
    for cov in missed:
        console.print(f"  {cov.journey}", highlight=False)
        for item in cov.missed():
            console.print(
                f"    {item.kind} {item.label}", highlight=False, markup=False, soft_wrap=True
            )


def summary(outcome: Outcome) -> str:
    failed, passed = len(outcome.failed), len(outcome.results) - len(outcome.failed)
    parts = [f"{failed} failed"] if failed else []
    parts.append(f"{passed} passed")
    if outcome.deselected:
        parts.append(f"{outcome.deselected} deselected")
    return f"{', '.join(parts)} in {outcome.seconds:.2f}s"


def print_summary(console: Console, outcome: Outcome) -> None:
    colour = "red" if outcome.failed or not outcome.results else "green"
    console.print(f"[{colour}]{escape(_rule(summary(outcome)))}[/{colour}]", highlight=False)
