"""The journey test kit for a team's own pytest suite (a pytest plugin).

Installed with journeyflow, pytest loads it by itself (entry point `journeyflow`;
`-p no:journeyflow` switches it off). The fixture `journeyflow` runs journeys the way
`journeyflow test` does, through the production engine, store (in memory) and send
rules on a fake clock, with channels that record:

    from flows.testing import event

    def test_review_request(journeyflow):
        run = journeyflow.run(
            "customer_lifecycle",
            events=[event("order.completed", total=80), event("order.delivered", at="1d")],
            until="5d",
        )
        assert run.stage_at("4d") == "evaluation"
        assert [s.message.name for s in run.sent][-1] == "review_request"

    def test_our_scenarios(journeyflow):
        journeyflow.check_scenarios()  # journeys/tests/*.yaml; fails with the diffs

The journeys, templates and scenarios are found as the commands find them (see
`journeys.config`); the ini options `journeyflow_journeys`, `journeyflow_templates`
and `journeyflow_scenarios` name other folders, relative to the rootdir.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from journeys.model import Journey

    from .scenarios.records import ScenarioRun
    from .scenarios.runner import Kit
    from .scenarios.suite import Case

__all__ = ["JourneyKit", "ScenarioFailed", "event"]

_INI = (
    ("journeyflow_journeys", "journeys folder (default: JOURNEYFLOW_JOURNEYS or journeys/)"),
    ("journeyflow_templates", "templates folder (default: JOURNEYFLOW_TEMPLATES or templates/)"),
    ("journeyflow_scenarios", "scenario files folder (default: journeys/tests/)"),
)


class ScenarioFailed(AssertionError):
    """A scenario's expectations did not hold; the message shows the diffs."""


def event(type: str, at: str = "0s", **data: Any) -> dict[str, Any]:
    """An event step: `event("order.completed", total=80)`, `event("order.delivered",
    at="1d")`."""
    return {"at": at, "type": type, "data": data}


class JourneyKit:
    """Runs journeys for a test: `run` a scenario written in Python, `check` one with
    expectations, `check_scenarios` for the YAML files."""

    def __init__(self, journeys: Path, templates: Path, scenarios: Path) -> None:
        self.journeys_dir, self.templates_dir, self.scenarios_dir = journeys, templates, scenarios
        self._journeys: dict[str, Journey] | None = None
        self._kit: Kit | None = None

    @property
    def journeys(self) -> dict[str, Journey]:
        """The journeys, loaded and validated once."""
        if self._journeys is None:
            from journeys.validate import load_journeys

            loaded = load_journeys([self.journeys_dir], self.templates_dir)
            self._journeys = {j.journey: j for j in loaded}
        return self._journeys

    @property
    def kit(self) -> Kit:
        if self._kit is None:
            from .scenarios.runner import Kit

            self._kit = Kit(self.journeys.values(), self.templates_dir)
        return self._kit

    def run(
        self,
        journey: str,
        *,
        events: Sequence[Mapping[str, Any]] = (),
        customer: Mapping[str, Any] | None = None,
        until: str | None = None,
        start: str | None = None,
        expect: Mapping[str, Any] | None = None,
        name: str = "python test",
    ) -> ScenarioRun:
        """Run one scenario given as the YAML would give it; what it did."""
        from journeys.errors import UnknownJourneyError

        from .scenarios.source import validate_scenario

        if journey not in self.journeys:
            raise UnknownJourneyError(journey, self.journeys)
        data: dict[str, Any] = {"name": name, "events": [dict(e) for e in events]}
        given = {"customer": customer, "until": until, "start": start, "expect": expect}
        data.update({k: v for k, v in given.items() if v is not None})
        return self.kit.run(validate_scenario(data), self.journeys[journey])

    def check(self, journey: str, **scenario: Any) -> ScenarioRun:
        """`run`, then its `expect`; ScenarioFailed with the diffs when one fails."""
        from .scenarios.expect import check
        from .scenarios.report import section

        run = self.run(journey, **scenario)
        failures = check(run)
        if failures:
            lines = [f"(times are since the start, {run.timeline.describe()})"]
            for failure in failures:
                lines += section(failure)
            raise ScenarioFailed("\n".join(lines))
        return run

    def scenarios(self, path: Path | None = None) -> list[Case]:
        """Every scenario of the files under `path` (default: the scenarios folder)."""
        from .scenarios.suite import load_suite, scenario_files

        files = scenario_files([path or self.scenarios_dir])
        return list(load_suite(files, self.journeys_dir, self.templates_dir).cases())

    def check_scenarios(self, path: Path | None = None, keyword: str | None = None) -> int:
        """Run the scenario files; ScenarioFailed lists every failed one with its diffs.
        Returns how many ran."""
        from .scenarios.report import failure_text
        from .scenarios.suite import run_case

        ran, failed = 0, []
        for case in self.scenarios(path):
            if not case.selected(keyword):
                continue
            result = run_case(self.kit, case)
            ran += 1
            if not result.passed:
                failed.append("\n".join([f"{case.id} FAILED", *failure_text(result)]))
        if failed:
            raise ScenarioFailed(
                f"{len(failed)} of {ran} scenarios failed\n\n" + "\n\n".join(failed)
            )
        return ran

    def close(self) -> None:
        if self._kit is not None:
            self._kit.close()


def pytest_addoption(parser: pytest.Parser) -> None:
    for name, help_text in _INI:
        parser.addini(name, help_text, default=None)


def _folder(config: pytest.Config, name: str) -> Path | None:
    value = config.getini(name)
    return Path(config.rootpath, value) if value else None


@pytest.fixture(scope="session")
def journeyflow(pytestconfig: pytest.Config) -> Iterator[JourneyKit]:
    """The journey test kit: `journeyflow.run(...)`, `.check(...)`, `.check_scenarios()`."""
    from journeys.config import definitions_dir, scenarios_dir, templates_dir

    journeys = _folder(pytestconfig, "journeyflow_journeys") or definitions_dir()
    templates = _folder(pytestconfig, "journeyflow_templates") or templates_dir()
    scenarios = _folder(pytestconfig, "journeyflow_scenarios")
    if scenarios is None:
        configured = _folder(pytestconfig, "journeyflow_journeys")
        scenarios = configured / "tests" if configured is not None else scenarios_dir()
    kit = JourneyKit(journeys, templates, scenarios)
    yield kit
    kit.close()
