"""Journeys checked against the tracking plan: every condition's attribute and event
field is declared, compared with a value of its type, and every template's
`event.data.<field>` is carried by each way into its stage.

What reaches a stage (`contexts`): the event types of its event triggers; a timer (no
event) for `after` and `no_event_for` triggers. A condition on an action sees the
event that entered the stage, carried along an instant `move_to`; a template sees the
event behind the stage entry itself, and after an `after` or `no_event_for` timer the
event that entered the stage the customer waited in; a stage entered by a `move_to`, a
yearly date or a schedule renders with no event data: there `event.data.x` must be
guarded (`{% if event.data.x is defined %}`) or defaulted (`|default(…)`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ._condition_lexer import Token, tokenize
from .errors import ConditionSyntaxError, Problem, did_you_mean
from .loader import Path_, SourceMap
from .model import (
    DelayTrigger,
    EndRule,
    EventTrigger,
    InactivityTrigger,
    Journey,
    MoveToAction,
    ScheduleTrigger,
    SegmentTrigger,
    YearlyTrigger,
)
from .tracking import FieldSpec, FieldType, TrackingPlan
from .validate_places import Places

TIMER = None  # a way into a stage with no event
Context = str | None
_NUMBERS = ("number", "integer")


def contexts(
    journey: Journey, *, carried_by_moves: bool, carried_by_waits: bool = False
) -> dict[str, set[Context]]:
    """Per stage, the event types (or TIMER) a customer may enter it with.

    `carried_by_moves`: an instant move_to carries the entering event (conditions);
    else any move brings no event (templates, which read the entry's own cause).
    `carried_by_waits`: an `after` or `no_event_for` trigger carries the event that
    entered the stage waited in (what templates see, see journeys.store.outbox.load)."""
    found: dict[str, set[Context]] = {s.key: set() for s in journey.stages}
    moves: list[tuple[str, str, bool]] = []  # (from, to, carries)
    for stage in journey.stages:
        for trigger in stage.enter_when:
            if isinstance(trigger, EventTrigger):
                found[stage.key].add(trigger.event)
            elif carried_by_waits and isinstance(trigger, DelayTrigger | InactivityTrigger):
                moves += [(s, stage.key, True) for s in trigger.from_ if s in found]
            elif isinstance(
                trigger,
                DelayTrigger | InactivityTrigger | YearlyTrigger | ScheduleTrigger | SegmentTrigger,
            ):
                found[stage.key].add(TIMER)  # a segment entry carries no event either
        for action in stage.on_enter:
            if isinstance(action, MoveToAction) and action.move_to in found:
                instant = action.after is None and carried_by_moves
                moves.append((stage.key, action.move_to, instant))
    changed = True
    while changed:  # a fixed point over move_to chains (they may loop through delays)
        changed = False
        for source, target, carries in moves:
            # A stage nothing enters by an event (a person put the customer there) has none.
            more = (found[source] or {TIMER}) if carries else {TIMER}
            if not more <= found[target]:
                found[target] |= more
                changed = True
    return found


class _Paths:
    """The dotted paths of a condition, with the comparisons made on them."""

    def __init__(self, source: str) -> None:
        self.tokens = [t for t in tokenize(source) if t.kind != "end"]

    def paths(self) -> Iterator[tuple[tuple[str, ...], int]]:
        """Each path and the index of the token after it."""
        i, tokens = 0, self.tokens
        while i < len(tokens):
            if tokens[i].kind != "name":
                i += 1
                continue
            parts = [tokens[i].text]
            i += 1
            while i + 1 < len(tokens) and tokens[i].text == "." and tokens[i + 1].kind == "name":
                parts.append(tokens[i + 1].text)
                i += 2
            yield tuple(parts), i

    def compared_with(self, after: int) -> list[Token]:
        """The literal(s) a path is compared with: `x == 3`, `x in ['a', 'b']`."""
        tokens = self.tokens
        if after >= len(tokens) or tokens[after].kind not in ("op", "word"):
            return []
        j = after + 1
        if tokens[after].text == "not" and j < len(tokens) and tokens[j].text == "in":
            j += 1
        if tokens[after].kind == "word" and tokens[after].text not in ("in", "not"):
            return []
        if j < len(tokens) and tokens[j].kind == "value":
            return [tokens[j]]
        if j < len(tokens) and tokens[j].text == "[":
            out = []
            for token in tokens[j + 1 :]:
                if token.text == "]":
                    break
                if token.kind == "value":
                    out.append(token)
            return out
        return []


def _kind_of(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "null"


def _mismatch(declared: FieldType, spec: FieldSpec | None, literal: object) -> str | None:
    kind = _kind_of(literal)
    if kind == "null":
        return None
    wanted = "number" if declared in _NUMBERS else declared
    if declared in ("array", "object", "datetime"):
        return None  # membership and dates: not a plain value comparison
    if kind != wanted:
        return f"compares a {declared} field with a {kind} ({literal!r})"
    if spec is not None and spec.values is not None and literal not in spec.values:
        shown = [str(v) for v in spec.values]
        return (
            f"{literal!r} is not one of its values {spec.values}{did_you_mean(str(literal), shown)}"
        )
    return None


class _Checker(Places):
    def __init__(self, journey: Journey, plan: TrackingPlan, spots: SourceMap, file: str) -> None:
        super().__init__(spots, file)
        self.journey = journey
        self.plan = plan

    def event_type(self, path: Path_, event: str) -> None:
        if event not in self.plan.events:
            self.add(
                path,
                f"event type '{event}' is not in the tracking plan"
                f"{did_you_mean(event, list(self.plan.events))}; declare it in tracking_plan.yaml",
            )

    def date_path(self, path: Path_, source: str, reach: set[Context]) -> None:
        """`of: event.x` / `customer.x`: declared, and a date (datetime or string)."""
        head, _, name = source.partition(".")
        if head == "customer":
            fields = self.plan.customer_fields()
            if name not in fields:
                self.add(
                    path,
                    f"of: customer attribute '{name}' is not in the tracking plan"
                    f"{did_you_mean(name, list(fields))}",
                )
            elif fields[name] not in ("datetime", "string"):
                self.add(path, f"of: customer.{name} is a {fields[name]}, not a date")
            return
        if TIMER in reach:
            self.add(
                path,
                f"of: {source} cannot be read when a timer or a delayed move enters the "
                "stage (there is no event): the action would be skipped; time it by a "
                "customer attribute, or enter the stage by the event",
            )
        for event in sorted(e for e in reach if e is not None):
            spec = self.plan.events.get(event)
            if spec is None:
                continue
            found = spec.data.get(name)
            if found is None:
                self.add(
                    path,
                    f"of: event field '{name}' is not in the data of '{event}' in the tracking "
                    f"plan{did_you_mean(name, list(spec.data))}",
                )
            elif found.type not in ("datetime", "string"):
                self.add(path, f"of: {event} field '{name}' is a {found.type}, not a date")

    def condition(self, path: Path_, source: str, reach: set[Context], what: str) -> None:
        try:
            parsed = _Paths(source)
        except ConditionSyntaxError:
            return  # the schema check reports it
        customer = self.plan.customer_fields()
        for parts, after in parsed.paths():
            head = parts[0]
            if head in ("stage", "now") and len(parts) == 1:
                continue
            literals = [t.value for t in parsed.compared_with(after)]
            if head == "customer":
                if len(parts) == 1:
                    continue
                name = parts[2] if parts[1] == "attributes" and len(parts) > 2 else parts[1]
                if name not in customer:
                    self.add(
                        path,
                        f"{what}: customer attribute '{name}' is not in the tracking plan"
                        f"{did_you_mean(name, list(customer))}",
                    )
                    continue
                spec = self.plan.customer.get(name)
                for literal in literals:
                    wrong = _mismatch(customer[name], spec, literal)
                    if wrong:
                        self.add(path, f"{what}: customer.{name} {wrong}")
                continue
            field = parts[1] if head == "event" and len(parts) > 1 else head
            if (head == "event" and len(parts) == 1) or field == "type":
                continue
            self._event_field(path, field, literals, reach, what)

    def _event_field(
        self, path: Path_, field: str, literals: list[object], reach: set[Context], what: str
    ) -> None:
        if TIMER in reach:
            self.add(
                path,
                f"{what}: event field '{field}' is missing when a timer or a delayed move "
                "enters the stage (there is no event): the condition is then false",
                "warning",
            )
        for event in sorted(e for e in reach if e is not None):
            spec = self.plan.events.get(event)
            if spec is None:
                continue  # reported where the event type is named
            found = spec.data.get(field)
            if found is None:
                self.add(
                    path,
                    f"{what}: event field '{field}' is not in the data of '{event}' in the "
                    f"tracking plan{did_you_mean(field, list(spec.data))}",
                )
                continue
            for literal in literals:
                wrong = _mismatch(found.type, found, literal)
                if wrong:
                    self.add(path, f"{what}: {event} field '{field}' {wrong}")


def check_tracking(
    journey: Journey, plan: TrackingPlan, spots: SourceMap, file: str, templates: Path
) -> list[Problem]:
    """Every event type, condition and template of `journey` against the plan."""
    c = _Checker(journey, plan, spots, file)
    for i, stage in enumerate(journey.stages):
        for t, trigger in enumerate(stage.enter_when):
            if isinstance(trigger, YearlyTrigger):
                where = ("stages", i, "enter_when", t, "every_year")
                c.date_path(where, trigger.every_year, {TIMER})
            if isinstance(trigger, EventTrigger):
                c.event_type(("stages", i, "enter_when", t, "event"), trigger.event)
                if trigger.where:
                    where = ("stages", i, "enter_when", t, "where")
                    c.condition(where, trigger.where, {trigger.event}, "where")
    rules: list[tuple[Path_, EndRule | None]] = [(("goal",), journey.goal)] if journey.goal else []
    rules += [(("exit", n), rule) for n, rule in enumerate(journey.exit)]
    for path, rule in rules:
        assert rule is not None
        c.event_type((*path, "event"), rule.event)
        if rule.where:
            c.condition((*path, "where"), rule.where, {rule.event}, "where")
    if journey.entry.where:
        entering = {
            e for s in journey.entry_stages for e in contexts(journey, carried_by_moves=True)[s]
        }
        c.condition(("entry", "where"), journey.entry.where, entering, "entry")
    reach = contexts(journey, carried_by_moves=True)
    for i, stage in enumerate(journey.stages):
        for a, action in enumerate(stage.on_enter):
            if action.of is not None:
                c.date_path(("stages", i, "on_enter", a, "of"), action.of, reach[stage.key])
            if action.when:
                c.condition(
                    ("stages", i, "on_enter", a, "when"), action.when, reach[stage.key], "when"
                )
    from .validate_attach import check_attachments
    from .validate_event_templates import check_event_templates

    check_attachments(journey, plan, c)
    c.problems.extend(check_event_templates(journey, plan, spots, file, templates))
    return c.problems
