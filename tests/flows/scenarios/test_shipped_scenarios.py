"""The shipped journeys' scenarios: one file per journey, all passing, on both stores,
reaching every stage, trigger and action of every journey."""

from __future__ import annotations

from flows.scenarios.coverage import REQUIRED
from flows.scenarios.report import failure_text
from flows.scenarios.stores import StoreFactory
from flows.scenarios.suite import Suite, run_suite
from journeys.config import SHIPPED_DEFINITIONS, SHIPPED_SCENARIOS
from journeys.loader import journey_files, load_journey


def test_every_shipped_journey_has_a_scenario_file_of_its_own(shipped: Suite) -> None:
    journeys = {load_journey(p).journey for p in journey_files([SHIPPED_DEFINITIONS])}
    files = {p.stem: p for p in SHIPPED_SCENARIOS.glob("*.yaml")}

    assert set(files) == journeys
    assert {s.path.stem: s.model.journey for s in shipped.sources} == {k: k for k in journeys}


def test_the_shipped_scenarios_pass_and_reach_every_stage_trigger_and_action(
    shipped: Suite, stores: StoreFactory
) -> None:
    outcome = run_suite(shipped, stores=stores, every_journey=True)

    failed = {r.case.id: "\n".join(failure_text(r)) for r in outcome.failed}
    assert not failed, "\n\n".join(failed.values())
    assert len(outcome.results) == sum(len(s.model.scenarios) for s in shipped.sources)
    for journey in shipped.journeys.values():
        coverage = outcome.coverage[journey.journey]
        assert coverage.missed(REQUIRED) == [], journey.journey
        # What there is to reach, counted from the definition itself.
        triggers = sum(len(s.enter_when) for s in journey.stages)
        triggers += len(journey.exit) + (journey.goal is not None)
        actions = sum(len(s.on_enter) for s in journey.stages)
        assert coverage.counts("stage") == (len(journey.stages), len(journey.stages))
        assert coverage.counts("trigger") == (triggers, triggers)
        assert coverage.counts("action") == (actions, actions)
