"""Checks of a scenario file against its journey: what it names must exist.

A scenario that expects `email: thank_yuo` would fail with a diff that hides the typo
among the messages; said at load time, with the line and a did-you-mean, it is fixed
in a second. Likewise stage names, variants, campaigns, and times before the start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from journeys.errors import Problem, did_you_mean
from journeys.model import Journey, PromoCodeAction, WebhookAction, _MessageAction
from journeys.yaml_source import Path_

from .model import MessageRef, Scenario
from .source import ScenarioSource
from .timeline import Timeline, end_of


@dataclass(frozen=True)
class Sendable:
    """A message action of a journey, by the names a scenario may call it."""

    stage: str
    action_key: str
    channel: str
    template: str | None  # the declared template (a webhook's: None)
    names: frozenset[str]  # its templates, variants' included; a webhook's endpoint
    variants: frozenset[str]


def sendables(journey: Journey) -> list[Sendable]:
    found = []
    for stage in journey.stages:
        for action in stage.on_enter:
            if isinstance(action, _MessageAction):
                variants = frozenset(v.key for v in action.variants or ())
                names = frozenset(action.templates)
                found.append(
                    Sendable(
                        stage.key, action.action_key, action.kind, action.template, names, variants
                    )
                )
            elif isinstance(action, WebhookAction):
                endpoint = frozenset({action.webhook})
                found.append(
                    Sendable(stage.key, action.action_key, "webhook", None, endpoint, frozenset())
                )
    return found


def campaigns(journey: Journey) -> set[str]:
    """The campaigns its promo codes are issued under (the journey's key by default)."""
    found = set()
    for stage in journey.stages:
        for action in stage.on_enter:
            spec = getattr(action, "promo_code", None)
            if isinstance(action, _MessageAction | PromoCodeAction) and spec is not None:
                found.add(spec.campaign or journey.journey)
    return found


def check_against(source: ScenarioSource, journeys: Mapping[str, Journey]) -> list[Problem]:
    """Every problem of a well-formed scenario file with respect to its journey."""
    key = source.model.journey
    journey = journeys.get(key)
    if journey is None:
        message = f"unknown journey '{key}'{did_you_mean(key, journeys)}"
        return [source.problem(("journey",), message)]
    problems: list[Problem] = []
    named: dict[str, int] = {}
    for i, scenario in enumerate(source.model.scenarios):
        base: Path_ = ("scenarios", i)
        if scenario.name in named:
            line = source.line_of(named[scenario.name])
            problems.append(
                source.problem(
                    (*base, "name"),
                    f"another scenario is named '{scenario.name}' (line {line}); "
                    "names are unique in a file",
                )
            )
        named.setdefault(scenario.name, i)
        problems += [source.problem((*base, *p), m) for p, m in _scenario(scenario, journey)]
    return problems


def _scenario(scenario: Scenario, journey: Journey) -> list[tuple[Path_, str]]:
    found: list[tuple[Path_, str]] = []
    timeline = Timeline.of(scenario, journey)
    found += _times(scenario, timeline)
    expect = scenario.expect
    stages = journey.stage_keys
    for j, stage in enumerate(expect.stages):
        if stage.stage is not None and stage.stage not in stages:
            message = f"the journey has no stage '{stage.stage}'{did_you_mean(stage.stage, stages)}"
            found.append((("expect", "stages", j, "stage"), message))
    catalogue = sendables(journey)
    refs: list[tuple[str, list[MessageRef]]] = [
        ("sent", list(expect.sent or ())),
        ("not_sent", list(expect.not_sent)),
        ("deferred", list(expect.deferred or ())),
    ]
    for section, items in refs:
        for j, ref in enumerate(items):
            problem = _message_problem(ref, catalogue, journey.journey)
            if problem is not None:
                found.append((("expect", section, j, problem[0]), problem[1]))
    known = campaigns(journey)
    for j, promo in enumerate(expect.promo_codes or ()):
        if promo.campaign is not None and promo.campaign not in known:
            hint = did_you_mean(promo.campaign, known) or "; it issues no promo codes"
            message = f"the journey has no campaign '{promo.campaign}'{hint}"
            found.append((("expect", "promo_codes", j, "campaign"), message))
    return found


def _times(scenario: Scenario, timeline: Timeline) -> list[tuple[Path_, str]]:
    """Every time a scenario names lies between its start and its end."""
    expect = scenario.expect
    named: list[tuple[Path_, timedelta | datetime | None]] = [
        *((("events", j, "at"), step.at) for j, step in enumerate(scenario.events)),
        (("until",), scenario.until),
        *((("expect", "stages", j, "at"), s.at) for j, s in enumerate(expect.stages)),
        *((("expect", "sent", j, "at"), m.at) for j, m in enumerate(expect.sent or ())),
        *(
            (("expect", "deferred", j, "until"), d.until)
            for j, d in enumerate(expect.deferred or ())
        ),
    ]
    end = end_of(scenario, timeline)
    found: list[tuple[Path_, str]] = []
    for path, moment in named:
        if moment is None:
            continue
        at = timeline.at(moment)
        if at < timeline.start:
            found.append((path, f"lies before the scenario's start ({timeline.describe()})"))
        elif at > end and path != ("until",):
            found.append(
                (path, f"lies after the scenario's end, 'until' ({timeline.since_start(end)})")
            )
    return found


def _message_problem(
    ref: MessageRef, catalogue: list[Sendable], journey: str
) -> tuple[str, str] | None:
    """(field, message) when the journey has no such message."""
    channel, name = ref.channel, ref.name
    of_channel = [s for s in catalogue if s.channel == channel]
    matching = [s for s in of_channel if name in s.names]
    if not matching:
        names = {n for s in of_channel for n in s.names}
        hint = did_you_mean(name, names) or f"; it sends no {channel}"
        return channel, f"journey {journey} sends no {channel} '{name}'{hint}"
    if ref.stage is not None:
        in_stage = [s for s in matching if s.stage == ref.stage]
        if not in_stage:
            stages = {s.stage for s in matching}
            return "stage", f"{channel} '{name}' is not sent in stage '{ref.stage}'" + (
                did_you_mean(ref.stage, stages)
            )
        matching = in_stage
    if ref.variant is not None and not any(ref.variant in s.variants for s in matching):
        variants = {v for s in matching for v in s.variants}
        hint = did_you_mean(ref.variant, variants) or "; it is not A/B tested"
        return "variant", f"{channel} '{name}' has no variant '{ref.variant}'{hint}"
    return None
