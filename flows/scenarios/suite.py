"""A run of scenario files: found, checked against their journeys, run, covered.

`journeyflow test` and the pytest plugin both go through here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from journeys.errors import Problem
from journeys.model import Journey
from journeys.validate import load_journeys

from .coverage import JourneyCoverage
from .crosscheck import check_against
from .expect import Failure, check
from .model import Scenario
from .records import ScenarioRun
from .runner import Kit
from .source import ScenarioError, ScenarioSource, load_scenario_file
from .stores import StoreFactory

SUFFIXES = (".yaml", ".yml")


def scenario_files(paths: Sequence[Path]) -> list[Path]:
    """Files as given; folders expanded to their *.yaml and *.yml files, in order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file())
        else:
            found.append(path)
    return found


@dataclass(frozen=True)
class Case:
    """One scenario of one file."""

    source: ScenarioSource
    index: int

    @property
    def scenario(self) -> Scenario:
        return self.source.model.scenarios[self.index]

    @property
    def journey(self) -> str:
        return self.source.model.journey

    @property
    def id(self) -> str:
        return f"{shown_path(self.source.path)}::{self.scenario.name}"

    @property
    def line(self) -> int | None:
        return self.source.line_of(self.index)

    def selected(self, keyword: str | None) -> bool:
        if not keyword:
            return True
        text = f"{self.source.path.name}::{self.scenario.name}".lower()
        return keyword.lower() in text


def shown_path(path: Path) -> str:
    """The path relative to the working directory where it lies beneath it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


@dataclass
class Result:
    case: Case
    failures: list[Failure] = field(default_factory=list)
    error: str | None = None  # the scenario could not run
    seconds: float = 0.0
    run: ScenarioRun | None = None

    @property
    def passed(self) -> bool:
        return not self.failures and self.error is None


@dataclass
class Suite:
    """Scenario files that loaded and fit their journeys, ready to run."""

    journeys: dict[str, Journey]
    templates: Path
    sources: list[ScenarioSource]

    def cases(self) -> Iterator[Case]:
        for source in self.sources:
            for index in range(len(source.model.scenarios)):
                yield Case(source, index)


def load_suite(files: Sequence[Path], journeys: Path, templates: Path) -> Suite:
    """Load the journeys (fully validated) and the scenario files; ScenarioError lists
    every problem of every file (a journey error raises `JourneyError`)."""
    loaded = {j.journey: j for j in load_journeys([journeys], templates)}
    sources, problems = [], []
    for path in files:
        try:
            source = load_scenario_file(path)
        except ScenarioError as exc:
            problems += exc.problems
            continue
        found = check_against(source, loaded)
        problems += found
        if not found:
            sources.append(source)
    if problems:
        raise ScenarioError(problems)
    return Suite(loaded, templates, sources)


@dataclass
class Outcome:
    results: list[Result] = field(default_factory=list)
    deselected: int = 0
    coverage: dict[str, JourneyCoverage] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if not r.passed]


def run_case(kit: Kit, case: Case) -> Result:
    started = time.perf_counter()
    result = Result(case)
    try:
        result.run = kit.run(case.scenario, case.journey)
        result.failures = check(result.run)
    except Exception as exc:  # one scenario's trouble is its result, not the run's end
        result.error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def run_suite(
    suite: Suite,
    keyword: str | None = None,
    *,
    stores: StoreFactory | None = None,
    every_journey: bool = False,
    on_result: Callable[[Result], None] | None = None,
) -> Outcome:
    """Run the selected scenarios, each in a store of its own; `every_journey`: report
    the coverage of journeys without scenario files too."""
    started = time.perf_counter()
    outcome = Outcome()
    tested = {s.model.journey for s in suite.sources}
    for key, journey in sorted(suite.journeys.items()):
        if every_journey or key in tested:
            outcome.coverage[key] = JourneyCoverage.of(journey)
    kit = Kit(suite.journeys.values(), suite.templates, stores)
    try:
        for case in suite.cases():
            if not case.selected(keyword):
                outcome.deselected += 1
                continue
            result = run_case(kit, case)
            outcome.results.append(result)
            if result.run is not None:
                journey = suite.journeys[case.journey]
                outcome.coverage[case.journey].add(journey, result.run.decisions)
            if on_result is not None:
                on_result(result)
    finally:
        kit.close()
    outcome.seconds = time.perf_counter() - started
    return outcome


def problems_text(problems: Sequence[Problem]) -> list[str]:
    return [f"{p.location}: {p.field}: {p.message}" for p in problems]
