"""`ab_results`: every A/B test of the stored journeys, counted and judged.

The tests are the message actions with variants in any registered version of a
journey; the newest version that has the action says how it is judged (its
`ab_test:` block, or the defaults) and which variants are still assigned.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select
from sqlmodel import Session

from ...abverdict import AbTestResult, ArmCount, judge
from ...errors import UnknownJourneyError
from ...model import Journey, _MessageAction
from ...model_abtest import AbTest
from ...types import format_duration
from ..sql import connection_of
from ..tables import journey_version_t
from .counts import arm_counts


@dataclass(frozen=True)
class AbSpec:
    """One A/B test as its journey's newest version declares it."""

    journey: str
    stage: str
    action: str
    test: AbTest
    # (variant, holdout, weight) in the order they are declared
    variants: tuple[tuple[str, bool, int], ...]


def _spec(journey: Journey, stage: str, action: _MessageAction) -> AbSpec:
    test = action.ab_test or AbTest(metric="goal" if journey.goal else "click")
    variants = tuple((v.key, v.template is None, v.weight) for v in action.variants or ())
    return AbSpec(journey.journey, stage, action.action_key, test, variants)


def declared_tests(session: Session | Connection, journey: str | None = None) -> list[AbSpec]:
    """Every A/B test of the registered journeys (or of one), by journey, stage, action."""
    j = journey_version_t.c
    query = select(j.journey, j.definition).order_by(j.journey, j.version.desc())
    known: set[str] = set()
    specs: dict[tuple[str, str, str], AbSpec] = {}
    for key, definition in connection_of(session).execute(query):
        known.add(key)
        if journey is not None and key != journey:
            continue
        parsed = Journey.model_validate(definition)
        for stage in parsed.stages:
            for action in stage.on_enter:
                if isinstance(action, _MessageAction) and action.variants:
                    # Newest version first: an older one never replaces what it said.
                    specs.setdefault(
                        (key, stage.key, action.action_key), _spec(parsed, stage.key, action)
                    )
    if journey is not None and journey not in known:
        raise UnknownJourneyError(journey, known)
    return [specs[k] for k in sorted(specs)]


def _arms(spec: AbSpec, counted: list[ArmCount]) -> list[ArmCount]:
    """The declared variants in their order (none counted yet: zero), then any others."""
    found = {a.variant: a for a in counted}
    arms = [
        found.get(key, ArmCount(key, holdout, 0, 0))._replace(holdout=holdout, retired=weight == 0)
        for key, holdout, weight in spec.variants
    ]
    declared = {key for key, _, _ in spec.variants}
    arms += [a._replace(retired=True) for a in counted if a.variant not in declared]
    return arms


def ab_results(
    session: Session | Connection,
    journey: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AbTestResult]:
    """Every A/B test's figures and decision, for customers assigned in [since, until)."""
    conn = connection_of(session)
    results = []
    for spec in declared_tests(conn, journey):
        test = spec.test
        counted = arm_counts(
            conn, spec.journey, spec.stage, spec.action, test.metric, test.within, since, until
        )
        arms, decision = judge(_arms(spec, counted), test, holdout_converts=test.metric != "click")
        results.append(
            AbTestResult(
                journey=spec.journey,
                stage=spec.stage,
                action=spec.action,
                metric=test.metric_name,
                within=format_duration(test.within),
                min_sample=test.min_sample,
                threshold=test.probability_to_be_best,
                since=since,
                until=until,
                arms=arms,
                decision=decision,
            )
        )
    return results
