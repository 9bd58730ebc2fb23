"""A journey as a Mermaid flowchart: the customer journey map, from the definition."""

from __future__ import annotations

from .model import (
    DelayTrigger,
    EventTrigger,
    InactivityTrigger,
    Journey,
    MoveToAction,
    Stage,
    _Action,
    _MessageAction,
)
from .types import format_duration

_START = "__start__"
_END = "__end__"
_ANY = "__any__"


def _quote(text: str) -> str:
    # Mermaid labels are in double quotes; it has its own escape for them.
    return text.replace('"', "#quot;")


def _action_label(action: _Action) -> str:
    if isinstance(action, _MessageAction):
        text = f"{action.kind}: {action.template}"
        if action.variants:
            text += " (A/B: " + ", ".join(f"{v.key} {v.weight}" for v in action.variants) + ")"
        if action.promo_code:
            text += f" + code {action.promo_code.discount}"
    elif isinstance(action, MoveToAction):
        text = f"move to {action.move_to}"
    else:
        text = action.kind
    if action.after is not None:
        text = f"after {format_duration(action.after)}: {text}"
    if action.when:
        text += f" if {action.when}"
    return text


def _stage_node(stage: Stage, locale: str) -> str:
    lines = [f"<b>{stage.title_in(locale)}</b>"]
    lines += [f"• {_action_label(a)}" for a in stage.on_enter if not _is_instant_move(a)]
    shape = ("([", "])") if stage.final else ("[", "]")
    return f'    {stage.key}{shape[0]}"{_quote("<br/>".join(lines))}"{shape[1]}'


def _is_instant_move(action: _Action) -> bool:
    return isinstance(action, MoveToAction) and action.after is None


def mermaid(journey: Journey, locale: str | None = None) -> str:
    """Render the journey as a Mermaid `flowchart LR`."""
    loc = locale or journey.locale
    out = ["---", f"title: {_quote(journey.title(loc))} (v{journey.version})", "---"]
    out.append("flowchart LR")
    out.append(f"    {_START}((start))")
    out += [_stage_node(s, loc) for s in journey.stages]
    if journey.goal or journey.exit:
        out.append(f"    {_END}((end))")
    entry = set(journey.entry_stages)
    keys = journey.stage_keys
    any_used = False
    for stage in journey.stages:
        for trig in stage.enter_when:
            if isinstance(trig, EventTrigger):
                label = trig.event + (f" if {trig.where}" if trig.where else "")
                sources = trig.from_ if trig.from_ is not None else ["*"]
                if trig.from_ is None and stage.key in entry:
                    out.append(f'    {_START} -->|"{_quote(label)}"| {stage.key}')
                for src in sources:
                    if src == "*":
                        # One node stands for "any other stage": N dashed edges per
                        # trigger would bury the chart.
                        any_used = True
                        out.append(f'    {_ANY} -.->|"{_quote(label)}"| {stage.key}')
                    else:
                        out.append(f'    {src} -->|"{_quote(label)}"| {stage.key}')
            elif isinstance(trig, DelayTrigger | InactivityTrigger):
                if isinstance(trig, InactivityTrigger):
                    label = f"no event for {format_duration(trig.no_event_for)}"
                else:
                    label = f"after {format_duration(trig.after)}"
                out += [f'    {src} ==>|"{_quote(label)}"| {stage.key}' for src in trig.from_]
        for action in stage.on_enter:
            if isinstance(action, MoveToAction):
                label = "then" if action.after is None else f"after {format_duration(action.after)}"
                out.append(f'    {stage.key} ==>|"{label}"| {action.move_to}')
    for rule, kind in [(journey.goal, "goal")] + [(r, "exit") for r in journey.exit]:
        if rule is not None:
            label = f"{kind}: {rule.event}" + (f" if {rule.where}" if rule.where else "")
            out.append(f'    {keys[0]} -.-|"{_quote(label)} (from any stage)"| {_END}')
    if any_used:
        out.insert(5, f"    {_ANY}{{{{any stage}}}}")
    return "\n".join(out) + "\n"
