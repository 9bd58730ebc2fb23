"""The journey map: stages, what happens in them, and the ways between them.

One model of the map, built from the journey definition, that every drawing reads
(`map_draw`: Graphviz DOT and Mermaid). Edges between the same two places are merged
into one with a line per way; triggers that apply "from any stage" (and the goal and
exits) are drawn once, as such, from one "any stage" place; a trigger into an entry
stage comes from the start. Labels are plain words in the journey's language
(`map_words`), or the definition's code with `technical=True`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from .map_words import Words
from .model import (
    DelayTrigger,
    EventTrigger,
    InactivityTrigger,
    Journey,
    MoveToAction,
    PromoCodeAction,
    ScheduleTrigger,
    SegmentTrigger,
    SetAttributeAction,
    Stage,
    WebhookAction,
    YearlyTrigger,
    _Action,
    _MessageAction,
)
from .tracking import TrackingPlan
from .types import format_duration

START, END, ANY = "__start__", "__end__", "__any__"
Channel = Literal["email", "sms", "webhook", "attribute", "code"]
EdgeKind = Literal["event", "timer", "move", "end"]


@dataclass(frozen=True)
class MapAction:
    channel: Channel
    text: str


@dataclass
class MapNode:
    key: str
    title: str
    kind: Literal["stage", "final", "start", "end", "any"] = "stage"
    actions: list[MapAction] = field(default_factory=list)
    now: int | None = None  # customers in the stage now (with counts)
    entered: int | None = None  # customers who ever entered it (with counts)


@dataclass
class MapEdge:
    source: str
    target: str
    kind: EdgeKind
    labels: list[str] = field(default_factory=list)
    moved: int | None = None  # customers who took this way (with counts)
    share: float | None = None  # of those who entered the source stage


@dataclass
class JourneyMap:
    key: str
    title: str
    version: int
    words: Words
    nodes: list[MapNode]
    edges: list[MapEdge]

    def node(self, key: str) -> MapNode:
        return next(n for n in self.nodes if n.key == key)

    @property
    def channels(self) -> list[Channel]:
        """The channels the map's actions use, in a fixed order (for the legend)."""
        used = {a.channel for n in self.nodes for a in n.actions}
        order: tuple[Channel, ...] = ("email", "sms", "webhook", "attribute", "code")
        return [c for c in order if c in used]


def journey_map(
    journey: Journey,
    locale: str | None = None,
    *,
    technical: bool = False,
    plan: TrackingPlan | None = None,
) -> JourneyMap:
    """The map of `journey`, its words in `locale` (default: the journey's); events are
    named by the tracking plan's descriptions where `plan` has them."""
    loc = locale or journey.locale
    titles = {s.key: s.title_in(loc) for s in journey.stages}
    described: dict[str, str] = {}
    for event, spec in plan.events.items() if plan else ():
        said = spec.says(loc)
        if said:
            described[event] = said
    words = Words(loc, titles, described)
    say = _Sayer(words, technical)
    nodes = [MapNode(START, words["start"], "start")]
    nodes += [
        MapNode(s.key, titles[s.key], "final" if s.final else "stage", _actions(s, say))
        for s in journey.stages
    ]
    edges: dict[tuple[str, str, EdgeKind], MapEdge] = {}

    def add(source: str, target: str, kind: EdgeKind, label: str) -> None:
        edge = edges.setdefault((source, target, kind), MapEdge(source, target, kind))
        if label not in edge.labels:
            edge.labels.append(label)

    entry = set(journey.entry_stages)
    for stage in journey.stages:
        for trigger in stage.enter_when:
            if isinstance(trigger, EventTrigger):
                label = say.trigger(trigger.event, trigger.where)
                if trigger.from_ is not None:
                    for source in trigger.from_:
                        add(source, stage.key, "event", label)
                elif stage.key in entry:
                    # New customers enter here; customers elsewhere may too, unless the
                    # condition speaks of the stage (then it says which).
                    mentions_stage = trigger.where is not None and "stage" in trigger.where
                    also = "" if mentions_stage or technical else f" ({words['from_any']})"
                    add(START, stage.key, "event", label + also)
                else:
                    add(ANY, stage.key, "event", label)
            elif isinstance(trigger, SegmentTrigger):
                for source in trigger.from_ or (START,):
                    add(source, stage.key, "event", say.segment(trigger.segment))
            elif isinstance(
                trigger, DelayTrigger | InactivityTrigger | YearlyTrigger | ScheduleTrigger
            ):
                label = say.timer(trigger)
                for source in trigger.from_:
                    add(source, stage.key, "timer", label)
        for action in stage.on_enter:
            if isinstance(action, MoveToAction):
                label = words["then"] if action.after is None else say.after(action)
                if action.when:
                    label += f" {words['if']} {say.condition(action.when)}"
                add(stage.key, action.move_to, "move", label)
    for rule, what in [(journey.goal, "goal")] + [(r, "exit") for r in journey.exit]:
        if rule is not None:
            add(ANY, END, "end", f"{words[what]}: {say.trigger(rule.event, rule.where)}")
    used = {e.source for e in edges.values()} | {e.target for e in edges.values()}
    if ANY in used:
        nodes.append(MapNode(ANY, words["any"], "any"))
    if END in used:
        nodes.append(MapNode(END, words["end"], "end"))
    if START not in used:
        nodes = nodes[1:]
    return JourneyMap(
        journey.journey, journey.title(loc), journey.version, words, nodes, list(edges.values())
    )


def with_counts(
    map_: JourneyMap,
    stages: Mapping[str, tuple[int, int]],
    moves: Mapping[tuple[str | None, str], int],
) -> JourneyMap:
    """The map with live figures: (now, entered) per stage, and customers per way
    (from stage or None for new, to stage) — what the store's transitions say."""
    for node in map_.nodes:
        if node.kind in ("stage", "final"):
            node.now, node.entered = stages.get(node.key, (0, 0))
    explicit: dict[str, set[str]] = {}
    for edge in map_.edges:
        if edge.kind != "end" and edge.source not in (START, ANY):
            explicit.setdefault(edge.target, set()).add(edge.source)
    for edge in map_.edges:
        if edge.kind == "end":
            continue
        if edge.source == START:
            edge.moved = moves.get((None, edge.target), 0)
        elif edge.source == ANY:
            others = explicit.get(edge.target, set()) | {edge.target}
            edge.moved = sum(
                n
                for (src, dst), n in moves.items()
                if dst == edge.target and src is not None and src not in others
            )
        else:
            edge.moved = moves.get((edge.source, edge.target), 0)
            entered = stages.get(edge.source, (0, 0))[1]
            edge.share = edge.moved / entered if entered else None
    return map_


class _Sayer:
    """Labels in plain words, or the definition's code (`technical`)."""

    def __init__(self, words: Words, technical: bool) -> None:
        self.words = words
        self.technical = technical

    def condition(self, source: str) -> str:
        return source if self.technical else self.words.condition(source)

    def segment(self, source: str) -> str:
        if self.technical:
            return f"segment {source}"
        return self.words.say("segment", condition=self.condition(source))

    def trigger(self, event: str, where: str | None) -> str:
        text = event if self.technical else self.words.event(event)
        if where:
            text += f" {'if' if self.technical else self.words['if']} {self.condition(where)}"
        return text

    def timer(
        self, trigger: DelayTrigger | InactivityTrigger | YearlyTrigger | ScheduleTrigger
    ) -> str:
        if isinstance(trigger, ScheduleTrigger):
            return (
                f"every {trigger.every}"
                if self.technical
                else self.words.say("schedule", cron=trigger.every)
            )
        if isinstance(trigger, YearlyTrigger):
            name = trigger.every_year.partition(".")[2]
            if self.technical:
                return f"every_year {trigger.every_year} at {trigger.at:%H:%M}"
            return self.words.say(
                "yearly", date=name.replace("_", " "), clock=f"{trigger.at:%H:%M}"
            )
        if isinstance(trigger, InactivityTrigger):
            if self.technical:
                return f"no event for {format_duration(trigger.no_event_for)}"
            return self.words.say("silent", span=self.words.span(trigger.no_event_for))
        if self.technical:
            return f"after {format_duration(trigger.after)}"
        return self.words.after(trigger.after)

    def timing(self, action: _Action) -> str:
        """'1 day before starts at, at 10:00 on mon, tue': when the action falls due."""
        if self.technical:
            parts = [f"after {format_duration(action.after)}"] if action.after else []
            parts += [f"before {format_duration(action.before)}"] if action.before else []
            parts += [f"of {action.of}"] if action.of else []
            parts += [f"at {action.at:%H:%M}"] if action.at else []
            parts += [f"on {', '.join(action.on)}"] if action.on else []
            return " ".join(parts)
        words = self.words
        parts = []
        if action.of is not None:
            date = action.of.partition(".")[2].replace("_", " ")
            if action.before is not None:
                parts.append(words.say("before_of", span=words.span(action.before), date=date))
            elif action.after is not None:
                parts.append(words.say("after_of", span=words.span(action.after), date=date))
            else:
                parts.append(words.say("at_of", date=date))
        elif action.after is not None:
            parts.append(words.after(action.after))
        if action.at is not None:
            parts.append(words.say("at_clock", clock=f"{action.at:%H:%M}"))
        if action.on:
            parts.append(words.say("on_days", days=", ".join(action.on)))
        return ", ".join(parts)

    def after(self, action: _Action) -> str:
        assert action.after is not None
        if self.technical:
            return f"after {format_duration(action.after)}"
        return self.words.after(action.after)


def _actions(stage: Stage, say: _Sayer) -> list[MapAction]:
    out: list[MapAction] = []
    for action in stage.on_enter:
        if isinstance(action, MoveToAction):
            continue  # drawn as a way out of the stage
        channel, text = _action_text(action, say)
        timing = say.timing(action)
        if timing:
            text = f"{timing}: {text}"
        if action.when:
            text += (
                f" ({say.words['if'] if not say.technical else 'if'} {say.condition(action.when)})"
            )
        out.append(MapAction(channel, text))
    return out


def _action_text(action: _Action, say: _Sayer) -> tuple[Channel, str]:
    words = say.words
    if isinstance(action, _MessageAction):
        channel: Channel = "email" if action.kind == "email" else "sms"
        text = action.template if say.technical else action.template.replace("_", " ")
        if action.variants:
            arms = ", ".join(
                f"{v.key} {v.weight}" + ("" if v.template else f" ({words['holdout']})")
                for v in action.variants
            )
            text += f" · {words['test']}: {arms}"
        if action.promo_code:
            text += " + " + words.say("code", discount=action.promo_code.discount)
        return channel, text
    if isinstance(action, WebhookAction):
        return "webhook", action.webhook if "://" not in action.webhook else "webhook"
    if isinstance(action, SetAttributeAction):
        return "attribute", words.say("set", names=", ".join(sorted(action.set_attribute)))
    if isinstance(action, PromoCodeAction):
        return "code", words.say("code", discount=action.promo_code.discount)
    return "attribute", action.kind
