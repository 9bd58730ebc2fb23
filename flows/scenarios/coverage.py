"""Journey coverage: the stages, triggers, actions, A/B variants and branches of each
journey that the scenarios reached, read from the engine's own decisions.

- a stage is reached when a customer enters it;
- a trigger (an `enter_when` entry, the goal, an `exit` rule) when it is the one that
  fired (the engine names it: `Transitioned.trigger`, `Ended.rule`);
- an action when it ran: scheduled, an attribute set, a move made;
- a variant when a customer was assigned to it;
- an action with `when` has two branches: it ran (the condition held) and its stage
  was entered without it (the condition did not hold). A delayed `move_to` checks its
  condition when the delay is over, so it has only the one branch: the action itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from journeys.decisions import AttributesSet, Decision, Ended, ScheduledAction, Transitioned
from journeys.model import (
    DelayTrigger,
    EventTrigger,
    InactivityTrigger,
    Journey,
    MoveToAction,
    PromoCodeAction,
    ScheduleTrigger,
    SegmentTrigger,
    SetAttributeAction,
    WebhookAction,
    YearlyTrigger,
    _Action,
    _MessageAction,
)
from journeys.types import format_duration

KINDS = ("stage", "trigger", "action", "variant", "branch")
# What every shipped journey's scenarios reach in full (the others are reported).
REQUIRED = ("stage", "trigger", "action")
Key = tuple[Any, ...]


@dataclass(frozen=True)
class Item:
    kind: str
    key: Key
    label: str


def _trigger(trigger: Any) -> str:
    if isinstance(trigger, EventTrigger):
        text = f"event {trigger.event}"
        if trigger.where:
            text += f" where {trigger.where}"
        return text + (f" from {', '.join(trigger.from_)}" if trigger.from_ else "")
    if isinstance(trigger, DelayTrigger):
        return f"after {format_duration(trigger.after)} in {', '.join(trigger.from_)}"
    if isinstance(trigger, SegmentTrigger):
        moves = f" from {', '.join(trigger.from_)}" if trigger.from_ else ""
        return f"segment {trigger.segment}{moves}"
    if isinstance(trigger, ScheduleTrigger):
        return f"every {trigger.every} in {', '.join(trigger.from_)}"
    if isinstance(trigger, YearlyTrigger):
        return f"every year on {trigger.every_year} in {', '.join(trigger.from_)}"
    assert isinstance(trigger, InactivityTrigger)
    return f"no event for {format_duration(trigger.no_event_for)} in {', '.join(trigger.from_)}"


def _action(action: _Action) -> str:
    if isinstance(action, _MessageAction):
        text = f"{action.kind} {action.template}"
    elif isinstance(action, WebhookAction):
        text = f"webhook {action.webhook}"
    elif isinstance(action, SetAttributeAction):
        text = f"set {', '.join(sorted(action.set_attribute))}"
    elif isinstance(action, MoveToAction):
        text = f"move to {action.move_to}"
    else:
        assert isinstance(action, PromoCodeAction)
        text = f"promo code {action.promo_code.campaign or ''}".rstrip()
    return text + (f" after {format_duration(action.after)}" if action.after else "")


def _branches(action: _Action) -> bool:
    return bool(action.when) and not (isinstance(action, MoveToAction) and action.after)


def items_of(journey: Journey) -> list[Item]:
    """Everything of a journey a scenario can reach, in the order of the definition."""
    items: list[Item] = []
    for stage in journey.stages:
        s = stage.key
        items.append(Item("stage", ("stage", s), s))
        for n, trigger in enumerate(stage.enter_when):
            items.append(Item("trigger", ("trigger", s, n), f"{s} ← {_trigger(trigger)}"))
        for action in stage.on_enter:
            key, text = action.action_key, _action(action)
            items.append(Item("action", ("action", s, key), f"{s}: {text}"))
            if isinstance(action, _MessageAction):
                for v in action.variants or ():
                    label = f"{s}: {text}, variant {v.key}"
                    items.append(Item("variant", ("variant", s, key, v.key), label))
            if _branches(action):
                for holds, how in ((True, "holds"), (False, "does not hold")):
                    label = f"{s}: {text} when '{action.when}' {how}"
                    items.append(Item("branch", ("when", s, key, holds), label))
    if journey.goal is not None:
        where = f" where {journey.goal.where}" if journey.goal.where else ""
        items.append(Item("trigger", ("goal",), f"goal ← event {journey.goal.event}{where}"))
    for n, rule in enumerate(journey.exit):
        where = f" where {rule.where}" if rule.where else ""
        items.append(Item("trigger", ("exit", n), f"exit ← event {rule.event}{where}"))
    return items


def reached_by(journey: Journey, decisions: Sequence[Decision]) -> set[Key]:
    """What of `journey` these decisions (one customer's, in order) reached."""
    reached: set[Key] = set()
    conditional = {
        stage.key: [a.action_key for a in stage.on_enter if _branches(a)]
        for stage in journey.stages
    }
    entered: str | None = None  # the stage entry whose actions are being decided
    taken: set[str] = set()

    def close() -> None:
        if entered is not None:
            for key in conditional.get(entered, ()):
                reached.add(("when", entered, key, key in taken))

    def ran(stage: str, key: str) -> None:
        reached.add(("action", stage, key))
        if stage == entered:
            taken.add(key)

    for d in decisions:
        if isinstance(d, Transitioned):
            for prefix in ("move_to:", "timer:move_to:"):
                if d.cause.startswith(prefix) and d.from_stage is not None:
                    ran(d.from_stage, d.cause[len(prefix) :])
            close()
            entered, taken = d.to_stage, set()
            reached.add(("stage", d.to_stage))
            if d.trigger is not None:
                reached.add(("trigger", d.to_stage, d.trigger))
        elif isinstance(d, ScheduledAction):
            ran(d.stage, d.action_key)
            if d.variant is not None:
                reached.add(("variant", d.stage, d.action_key, d.variant))
        elif isinstance(d, AttributesSet) and d.stage is not None and d.action is not None:
            ran(d.stage, d.action)
        elif isinstance(d, Ended):
            if d.reason == "goal":
                reached.add(("goal",))
            elif d.reason == "exited" and d.rule is not None:
                reached.add(("exit", d.rule))
    close()
    return reached


@dataclass
class JourneyCoverage:
    journey: str
    items: list[Item]
    reached: set[Key] = field(default_factory=set)
    scenarios: int = 0

    @classmethod
    def of(cls, journey: Journey) -> JourneyCoverage:
        return cls(journey.journey, items_of(journey))

    def add(self, journey: Journey, decisions: Sequence[Decision]) -> None:
        self.reached |= reached_by(journey, decisions)
        self.scenarios += 1

    def missed(self, kinds: Iterable[str] = KINDS) -> list[Item]:
        wanted = set(kinds)
        return [i for i in self.items if i.kind in wanted and i.key not in self.reached]

    def counts(self, kind: str) -> tuple[int, int]:
        """(reached, total) of one kind."""
        of_kind = [i for i in self.items if i.kind == kind]
        return sum(1 for i in of_kind if i.key in self.reached), len(of_kind)

    def percent(self, kinds: Iterable[str] = KINDS) -> float:
        wanted = set(kinds)
        of_kinds = [i for i in self.items if i.kind in wanted]
        if not of_kinds:
            return 100.0
        return 100.0 * sum(1 for i in of_kinds if i.key in self.reached) / len(of_kinds)
