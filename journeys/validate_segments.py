"""Checks of segment entries (`enter_when: {segment: ...}`), placed by file:line.

A segment starts the journey, so it belongs on a stage the journey starts at, unless
it moves customers from stages (`from:`); moves that lead round in a ring with no delay
are a warning. Its
condition reads the customer only (bare names are customer attributes), checked
against the tracking plan like every other condition; and a comparison with `now`
needs a date on its other side, or time can never make it true.
"""

from __future__ import annotations

from collections.abc import Iterator

from ._condition_lexer import Token, tokenize
from .condition_time import as_instant
from .errors import ConditionSyntaxError, Problem, did_you_mean
from .loader import Path_, SourceMap
from .model import Journey, SegmentTrigger
from .tracking import TrackingPlan
from .validate_places import Places

__all__ = ["check_segments"]

_DATES = ("datetime", "string")  # a string attribute may hold ISO 8601 dates


def check_segments(
    journey: Journey, spots: SourceMap, file: str, plan: TrackingPlan | None
) -> list[Problem]:
    places = Places(spots, file)
    starts = journey.entry_stages
    for i, stage in enumerate(journey.stages):
        for t, trigger in enumerate(stage.enter_when):
            if not isinstance(trigger, SegmentTrigger):
                continue
            path: Path_ = ("stages", i, "enter_when", t, "segment")
            if trigger.from_ is None and stage.key not in starts:
                places.add(
                    path,
                    f"a segment starts the journey, but the journey starts at "
                    f"{', '.join(starts)}, not at '{stage.key}'; add '{stage.key}' to "
                    "entry.stages, or move customers here from a stage (from: [...])",
                )
            _Segment(places, path, plan).check(trigger.segment)
    _check_rings(journey, places)
    return places.problems


def _check_rings(journey: Journey, places: Places) -> None:
    """Segment moves that lead back to where they started, with no delay between: a
    customer for whom every condition holds at once would go round and round (the
    engine stops after a few dozen moves). A warning: exclusive conditions are fine."""
    moves: dict[str, list[tuple[str, Path_]]] = {}
    for i, stage in enumerate(journey.stages):
        for t, trigger in enumerate(stage.enter_when):
            if isinstance(trigger, SegmentTrigger) and trigger.from_ is not None:
                for source in trigger.from_:
                    path: Path_ = ("stages", i, "enter_when", t, "segment")
                    moves.setdefault(source, []).append((stage.key, path))
    for action_stage in journey.stages:  # a move_to without 'after' is instant too
        for action in action_stage.on_enter:
            target = getattr(action, "move_to", None)
            if target is not None and getattr(action, "after", None) is None:
                moves.setdefault(action_stage.key, []).append((target, ()))
    reported: set[frozenset[str]] = set()
    for start in sorted(moves):
        trail = _ring(moves, start)
        if trail is None or frozenset(s for s, _ in trail) in reported:
            continue
        reported.add(frozenset(s for s, _ in trail))
        paths = [p for _, p in trail if p]
        if not paths:
            continue  # move_to alone: check_graph's error
        ring = " -> ".join([start, *(s for s, _ in trail)])
        places.add(
            paths[0],
            f"segment moves form a ring with no delay: {ring}; a customer in every "
            "segment at once would go round it. Make the conditions exclude each other, "
            "or wait in one of the stages (after:)",
            "warning",
        )


def _ring(moves: dict[str, list[tuple[str, Path_]]], start: str) -> list[tuple[str, Path_]] | None:
    """A path of instant moves from `start` back to it, if there is one (depth first)."""
    stack: list[tuple[str, list[tuple[str, Path_]]]] = [(start, [])]
    seen: set[str] = set()
    while stack:
        node, trail = stack.pop()
        for target, path in moves.get(node, ()):
            if target == start:
                return [*trail, (target, path)]
            if target not in seen:
                seen.add(target)
                stack.append((target, [*trail, (target, path)]))
    return None


class _Segment:
    def __init__(self, places: Places, path: Path_, plan: TrackingPlan | None) -> None:
        self.places, self.path = places, path
        self.fields = plan.customer_fields() if plan is not None else None

    def add(self, message: str, severity: str = "error") -> None:
        self.places.add(self.path, f"segment: {message}", severity)

    def check(self, source: str) -> None:
        try:
            tokens = tokenize(source)
        except ConditionSyntaxError:
            return  # the schema check reports it
        comparisons = list(_comparisons(tokens))
        guarded = _guarded(comparisons)
        negated = any(t.text == "not" and tokens[i + 1].text != "in" for i, t in enumerate(tokens))
        for left, op, right in comparisons:
            timed = [_timed(left), _timed(right)]
            for side, other, is_timed in ((left, right, timed[0]), (right, left, timed[1])):
                for name in self.attributes(side):
                    if (any(timed) and not is_timed) or (is_timed and len(side) > 1):
                        self.date(name)
                        if (negated or op == "!=") and name not in guarded:
                            guarded.add(name)  # said once
                            self.add(
                                f"customers without customer.{name} enter too: a missing "
                                "date makes the comparison false, and 'not' or '!=' turn "
                                f'that into true; add "customer.{name} != null and ..."',
                                "warning",
                            )
                if is_timed and not _timed(other) and op is not None:
                    for token in other:
                        if token.kind == "value" and as_instant(token.value) is None:
                            self.add(
                                f"{token.text} is not a date: compared with a time, the "
                                "condition is never true"
                            )
            if all(timed) and _reads_now(left) and _reads_now(right):
                self.add("compares now with now: time never changes the answer", "warning")

    def attributes(self, side: list[Token]) -> Iterator[str]:
        for parts in _paths(side):
            if parts == ("now",):
                continue
            if parts[0] in ("event", "stage"):
                self.add(f"'{'.'.join(parts)}': a segment reads the customer, there is no event")
                continue
            if parts[0] == "customer":
                parts = parts[1:]
                if parts[:1] == ("attributes",):
                    parts = parts[1:]
            if not parts:
                continue
            name = parts[0]
            if self.fields is not None and name not in self.fields:
                self.add(
                    f"customer attribute '{name}' is not in the tracking plan"
                    f"{did_you_mean(name, list(self.fields))}"
                )
                continue
            yield name

    def date(self, name: str) -> None:
        if self.fields is not None and self.fields[name] not in _DATES:
            self.add(
                f"customer.{name} is a {self.fields[name]}, not a date: compared with a "
                "time, the condition is never true"
            )


def _comparisons(tokens: list[Token]) -> Iterator[tuple[list[Token], str | None, list[Token]]]:
    """Each comparison's two sides (a bare operand has no operator and no right side)."""
    chunk: list[Token] = []
    for i, token in enumerate(tokens):
        joins = token.kind == "word" and token.text in ("and", "or")
        negates = token.text == "not" and tokens[i + 1].text != "in"
        if (
            joins
            or negates
            or (token.text in "()" and token.kind == "punct")
            or token.kind == "end"
        ):
            if chunk:
                yield _split(chunk)
            chunk = []
        else:
            chunk.append(token)


def _split(chunk: list[Token]) -> tuple[list[Token], str | None, list[Token]]:
    for i, token in enumerate(chunk):
        if token.kind == "op" or (token.kind == "word" and token.text in ("in", "not")):
            rest = chunk[i + 1 :]
            if token.text == "not" and rest[:1] and rest[0].text == "in":
                rest = rest[1:]
            return chunk[:i], token.text, rest
    return chunk, None, []


def _guarded(comparisons: list[tuple[list[Token], str | None, list[Token]]]) -> set[str]:
    """Attributes the condition requires to be there (`customer.x != null`)."""
    found: set[str] = set()
    for left, op, right in comparisons:
        if op == "!=" and len(right) == 1 and right[0].kind == "value" and right[0].value is None:
            found |= {parts[-1] for parts in _paths(left)}
    return found


def _reads_now(side: list[Token]) -> bool:
    return ("now",) in set(_paths(side))


def _timed(side: list[Token]) -> bool:
    return _reads_now(side) or any(t.kind == "arith" for t in side)


def _paths(side: list[Token]) -> Iterator[tuple[str, ...]]:
    i = 0
    while i < len(side):
        if side[i].kind != "name":
            i += 1
            continue
        parts = [side[i].text]
        i += 1
        while i + 1 < len(side) and side[i].text == "." and side[i + 1].kind == "name":
            parts.append(side[i + 1].text)
            i += 2
        yield tuple(parts)
