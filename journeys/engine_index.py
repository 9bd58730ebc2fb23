"""The engine's per-journey lookups, built once per journey object: which triggers an
event type can fire, which timers each stage starts, the compiled conditions and the
parameters of each action. A decision is then a few dict hits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .conditions import Condition, compile_condition
from .model import (
    DelayTrigger,
    EventTrigger,
    InactivityTrigger,
    Journey,
    MoveToAction,
    ScheduleTrigger,
    SegmentTrigger,
    SetAttributeAction,
    Settings,
    Stage,
    YearlyTrigger,
)

__all__ = ["_Index", "_Timer", "_cond", "_fmt", "_index"]


@dataclass(frozen=True, slots=True)
class _Timer:
    target: str
    label: str
    delay: timedelta
    since_last_event: bool
    condition: Condition | None = None
    trigger: int | None = None  # index in the target's enter_when; None for a delayed move
    # A yearly date of the customer's (every_year), with the settings its zone falls back to.
    yearly: YearlyTrigger | None = None
    settings: Settings | None = None
    schedule: ScheduleTrigger | None = None  # a cron schedule (every)
    # A segment move (segment with from): due when the condition on the customer holds.
    segment: Condition | None = None


@dataclass(slots=True)
class _Index:
    """Per-journey lookups, built once, so each decision is a few dict hits."""

    # event type -> (stage, trigger, its condition, its index in the stage's enter_when)
    by_event: dict[str, list[tuple[str, EventTrigger, Condition | None, int]]]
    entry_by_event: dict[str, list[tuple[str, Condition | None, int]]]
    timers: dict[str, list[_Timer]]
    params: dict[int, dict[str, Any]]
    conditions: dict[int, Condition]
    goal: tuple[str, Condition | None] | None
    exits: list[tuple[str, Condition | None]]
    entry_where: Condition | None
    stages: dict[str, Stage] = field(default_factory=dict)
    # stage -> (action key, delay) of delayed actions dropped when the customer leaves
    cancellable: dict[str, list[tuple[str, timedelta | None]]] = field(default_factory=dict)


_INDEXES: dict[int, tuple[Journey, _Index]] = {}


def _cond(text: str | None) -> Condition | None:
    return compile_condition(text) if text else None


def _index(journey: Journey) -> _Index:
    hit = _INDEXES.get(id(journey))
    if hit is not None and hit[0] is journey:
        return hit[1]
    ix = _build_index(journey)
    # Keep the journey referenced so its id cannot be reused while cached.
    _INDEXES[id(journey)] = (journey, ix)
    return ix


def _build_index(journey: Journey) -> _Index:
    by_event: dict[str, list[tuple[str, EventTrigger, Condition | None, int]]] = {}
    entry_by_event: dict[str, list[tuple[str, Condition | None, int]]] = {}
    timers: dict[str, list[_Timer]] = {}
    params: dict[int, dict[str, Any]] = {}
    conditions: dict[int, Condition] = {}
    entry = set(journey.entry_stages)
    for stage in journey.stages:
        for n, trig in enumerate(stage.enter_when):
            if isinstance(trig, EventTrigger):
                cond = _cond(trig.where)
                by_event.setdefault(trig.event, []).append((stage.key, trig, cond, n))
                if stage.key in entry and trig.from_ is None:
                    entry_by_event.setdefault(trig.event, []).append((stage.key, cond, n))
            elif isinstance(trig, ScheduleTrigger):
                label = f"every:{trig.every}"
                for src in trig.from_:
                    timer = _Timer(
                        stage.key,
                        label,
                        timedelta(0),
                        False,
                        trigger=n,
                        schedule=trig,
                        settings=journey.settings,
                    )
                    timers.setdefault(src, []).append(timer)
            elif isinstance(trig, YearlyTrigger):
                label = f"every_year:{trig.every_year}"
                for src in trig.from_:
                    timer = _Timer(
                        stage.key,
                        label,
                        timedelta(0),
                        False,
                        trigger=n,
                        yearly=trig,
                        settings=journey.settings,
                    )
                    timers.setdefault(src, []).append(timer)
            elif isinstance(trig, SegmentTrigger):
                if trig.from_ is None:
                    continue  # an entry, not a move: see segments.entries
                condition = compile_condition(trig.segment)
                for src in trig.from_:
                    timer = _Timer(
                        stage.key, "segment", timedelta(0), False, trigger=n, segment=condition
                    )
                    timers.setdefault(src, []).append(timer)
            else:
                inactivity = isinstance(trig, InactivityTrigger)
                delay = trig.no_event_for if isinstance(trig, InactivityTrigger) else trig.after
                assert isinstance(trig, InactivityTrigger | DelayTrigger)
                label = f"{'no_event_for' if inactivity else 'after'}:{_fmt(delay)}"
                for src in trig.from_:
                    timer = _Timer(stage.key, label, delay, inactivity, trigger=n)
                    timers.setdefault(src, []).append(timer)
        for action in stage.on_enter:
            if action.when:
                conditions[id(action)] = compile_condition(action.when)
            if isinstance(action, MoveToAction) and action.after is not None:
                timers.setdefault(stage.key, []).append(
                    _Timer(
                        action.move_to,
                        f"move_to:{action.action_key}",
                        action.after,
                        False,
                        conditions.get(id(action)),
                    )
                )
            params[id(action)] = action.model_dump(
                mode="json",
                by_alias=True,
                exclude_none=True,
                exclude={
                    "key",
                    "after",
                    "when",
                    "cancel_on_leave",
                    "variants",
                    "ab_test",
                    "before",
                    "of",
                    "if_past",
                    "at",
                    "on",
                },
            )
    goal = (journey.goal.event, _cond(journey.goal.where)) if journey.goal else None
    exits = [(r.event, _cond(r.where)) for r in journey.exit]
    # A delayed action is voided when the customer leaves before its delay is over; one
    # timed by a date or a send window (delay None) always, and the store keeps it if
    # it was due by then (LeftStage.at).
    cancellable = {
        stage.key: [
            (a.action_key, None if a.timed else a.after)
            for a in stage.on_enter
            if (a.after is not None or a.timed)
            and a.cancel_on_leave
            and not isinstance(a, MoveToAction | SetAttributeAction)
        ]
        for stage in journey.stages
    }
    return _Index(
        by_event,
        entry_by_event,
        timers,
        params,
        conditions,
        goal,
        exits,
        _cond(journey.entry.where),
        {s.key: s for s in journey.stages},
        cancellable,
    )


def _fmt(delay: timedelta) -> str:
    from .types import format_duration

    return format_duration(delay)
