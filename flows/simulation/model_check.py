"""A behaviour model checked against the tracking plan and the journeys it drives.

Every event the model makes must be one the plan declares, with data fields the plan
declares for it and values of their type (and among their `values`, where the plan
lists them); customer attributes likewise. A stage a rule follows must exist in its
journey. Each problem names its file:line, as the journeys' own checks do: a model
that passes runs, one that does not is never half simulated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from journeys.errors import Problem, did_you_mean
from journeys.loader import locate
from journeys.model import Journey, _MessageAction
from journeys.tracking import FieldSpec, TrackingPlan, fits, type_of
from journeys.validate_tracking import TIMER, contexts
from journeys.yaml_source import SourceMap

from .model import BehaviourModel, ModelError, Outcome, Rule
from .model_data import Between, Choose, Data, DateRange, Maybe, Moment, Scalar
from .model_messages import MessageModel

Path_ = tuple[str | int, ...]


def check_model(
    model: BehaviourModel,
    plan: TrackingPlan | None,
    journeys: Iterable[Journey],
    spots: SourceMap,
    file: str,
) -> None:
    """Raise ModelError naming every problem; return quietly when the model fits."""
    found = [
        Problem(message, file, *locate(spots, path), path)
        for path, message in _problems(model, plan, list(journeys))
    ]
    if found:
        raise ModelError(found)


def _problems(
    model: BehaviourModel, plan: TrackingPlan | None, journeys: list[Journey]
) -> Iterator[tuple[Path_, str]]:
    entering = {j.journey: _entering(j) for j in journeys}
    defaults: Path_ = ("defaults",)
    yield from _attributes(plan, model.defaults.attributes, (*defaults, "attributes"))
    for n, rule in enumerate(model.defaults.behaviour):
        yield from _rule(plan, entering, rule, (*defaults, "behaviour", n))
    if model.messages is not None:
        yield from _message_templates(model.messages, journeys)
    for p, persona in enumerate(model.personas):
        at: Path_ = ("personas", p)
        if persona.attributes is not None:
            yield from _attributes(plan, persona.attributes, (*at, "attributes"))
        start = persona.starts_with
        yield from _event(plan, start.event, (*at, "starts_with", "event"))
        yield from _data(plan, start.event, start.data, (*at, "starts_with", "data"))
        yield from _drawn_before(start.data, set(), (*at, "starts_with", "data"))
        for n, rule in enumerate(persona.behaviour):
            yield from _rule(plan, entering, rule, (*at, "behaviour", n))


def _message_templates(
    messages: MessageModel, journeys: list[Journey]
) -> Iterator[tuple[Path_, str]]:
    """A template named in `messages:` is one a journey sends: a typo would silently
    leave its messages at the default shares."""
    sent = {
        name
        for journey in journeys
        for stage in journey.stages
        for action in stage.on_enter
        if isinstance(action, _MessageAction)
        for name in action.templates
    }
    for part in ("opened", "clicked", "surveys", "answered"):
        for name in getattr(messages, part):
            if name != "default" and name not in sent:
                hint = did_you_mean(name, sent)
                yield ("messages", part, name), f"no journey sends a template '{name}'{hint}"


def _entering(journey: Journey) -> dict[str, list[str]]:
    """Per stage, the event types whose data a rule on it reads: those that enter it,
    and for a wait those that entered the stage waited in (the templates' contract)."""
    found = contexts(journey, carried_by_moves=False, carried_by_waits=True)
    return {stage: sorted(e for e in kinds if e is not TIMER) for stage, kinds in found.items()}


@dataclass(frozen=True)
class _Cause:
    """What a rule follows (an event type, or journey.stage) and the event types whose
    data it may carry."""

    name: str
    events: list[str]


def _rule(
    plan: TrackingPlan | None, entering: dict[str, dict[str, list[str]]], rule: Rule, at: Path_
) -> Iterator[tuple[Path_, str]]:
    cause: _Cause | None = None
    if rule.after is not None:
        yield from _event(plan, rule.after, (*at, "after"))
        cause = _Cause(rule.after, [rule.after])
    if rule.after_stage is not None:
        journey, _, stage = rule.after_stage.partition(".")
        if journey not in entering:
            yield (*at, "after_stage"), f"no journey '{journey}'{did_you_mean(journey, entering)}"
        elif stage not in entering[journey]:
            hint = did_you_mean(stage, entering[journey])
            yield (*at, "after_stage"), f"{journey} has no stage '{stage}'{hint}"
        else:
            cause = _Cause(rule.after_stage, entering[journey][stage])
    if cause is not None:
        for name, value in rule.matching.items():
            here = (*at, "matching", name)
            yield from _cause_has(plan, cause, name, here, "matching")
            for event in cause.events:
                yield from _matches(plan, event, name, value, here)
    if rule.one_of is None:
        yield from _outcome(plan, cause, rule.outcomes[0], at)
    for k, outcome in enumerate(rule.one_of or ()):
        yield from _outcome(plan, cause, outcome, (*at, "one_of", k))


def _nothing(cause: _Cause, at: Path_, what: str) -> Iterator[tuple[Path_, str]]:
    why = "a date, a schedule, a segment or a move enters it"
    yield at, f"no event enters {cause.name} ({why}): {what} has no data to read"


def _outcome(
    plan: TrackingPlan | None, cause: _Cause | None, outcome: Outcome, at: Path_
) -> Iterator[tuple[Path_, str]]:
    for k, name in enumerate(outcome.keep):
        yield from _declared(plan, outcome.then, name, (*at, "keep", k))
        if cause is not None:
            yield from _cause_has(plan, cause, name, (*at, "keep", k), "keep")
    if outcome.of is not None and cause is not None:
        yield from _cause_has(plan, cause, outcome.of, (*at, "of"), "of")
        for event in cause.events:
            yield from _moment_of(plan, event, outcome.of, (*at, "of"))
    yield from _event(plan, outcome.then, (*at, "then"))
    yield from _data(plan, outcome.then, outcome.data, (*at, "data"))
    yield from _drawn_before(outcome.data, set(outcome.keep), (*at, "data"))


def _cause_has(
    plan: TrackingPlan | None, cause: _Cause, name: str, at: Path_, what: str
) -> Iterator[tuple[Path_, str]]:
    """A field the rule reads from its cause: one some event of the cause declares."""
    if not cause.events:
        yield from _nothing(cause, at, what)
    elif len(cause.events) == 1:
        yield from _declared(plan, cause.events[0], name, at)
    elif plan is not None:
        specs = [plan.events[e] for e in cause.events if e in plan.events]
        if specs and not any(name in spec.data for spec in specs):
            known = {field for spec in specs for field in spec.data}
            names = ", ".join(cause.events)
            hint = did_you_mean(name, known) if known else ""
            yield at, f"no event that enters {cause.name} ({names}) declares '{name}'{hint}"


def _moment_of(
    plan: TrackingPlan | None, event: str, name: str, at: Path_
) -> Iterator[tuple[Path_, str]]:
    """A delay counted from a field of the cause: a moment the plan declares for it."""
    spec = plan.events.get(event) if plan is not None else None
    if spec is None:
        return
    field = spec.data.get(name)
    if field is not None and field.type != "datetime":  # undeclared: see _cause_has
        yield at, f"{event} data.{name} is {_a(field.type)}; of needs a datetime to count from"


def _drawn_before(data: Data, kept: set[str], at: Path_) -> Iterator[tuple[Path_, str]]:
    """A moment `of` another field reads one kept from the cause or drawn before it."""
    known = set(kept)
    for name, value in data.items():
        inner = value.value if isinstance(value, Maybe) else value
        if isinstance(inner, Moment) and inner.of is not None and inner.of not in known:
            yield (
                (*at, name, "of"),
                f"'{inner.of}' is neither kept nor drawn before {name}: "
                "of reads the event's data as it stands",
            )
        known.add(name)


def _event(plan: TrackingPlan | None, event: str, at: Path_) -> Iterator[tuple[Path_, str]]:
    if plan is not None and event not in plan.events:
        hint = did_you_mean(event, plan.events)
        yield at, f"the tracking plan declares no event '{event}'{hint}"


def _declared(
    plan: TrackingPlan | None, event: str, name: str, at: Path_
) -> Iterator[tuple[Path_, str]]:
    spec = plan.events.get(event) if plan is not None else None
    if spec is not None and name not in spec.data:
        hint = did_you_mean(name, spec.data) if spec.data else "; it declares no data"
        yield at, f"the tracking plan declares no field '{name}' for {event}{hint}"


def _data(
    plan: TrackingPlan | None, event: str, data: Data, at: Path_
) -> Iterator[tuple[Path_, str]]:
    spec = plan.events.get(event) if plan is not None else None
    for name, value in data.items():
        if spec is None:
            break
        field = spec.data.get(name)
        if field is None:
            yield from _declared(plan, event, name, (*at, name))
            continue
        yield from _values(field, value, (*at, name), f"{event} data.{name}")


def _matches(
    plan: TrackingPlan | None, event: str, name: str, value: Scalar | list[Scalar], at: Path_
) -> Iterator[tuple[Path_, str]]:
    """The values a rule matches must fit the field where the event declares it."""
    spec = plan.events.get(event) if plan is not None else None
    field = spec.data.get(name) if spec is not None else None
    if field is not None:
        for option in value if isinstance(value, list) else [value]:
            yield from _one(field, option, at, f"matching {event} data.{name}")


def _attributes(
    plan: TrackingPlan | None, attributes: Data, at: Path_
) -> Iterator[tuple[Path_, str]]:
    yield from _drawn_before(attributes, set(), at)
    if plan is None:
        return
    for name, value in attributes.items():
        field = plan.customer.get(name)
        if field is None:
            hint = did_you_mean(name, plan.customer)
            yield (*at, name), f"the tracking plan declares no customer attribute '{name}'{hint}"
            continue
        yield from _values(field, value, (*at, name), f"attribute {name}")


def _values(field: FieldSpec, value: Any, at: Path_, what: str) -> Iterator[tuple[Path_, str]]:
    """Every value a data spec can produce must fit the declared field."""
    if isinstance(value, Maybe):
        yield from _values(field, value.value, at, what)
    elif isinstance(value, DateRange | Moment):
        if field.type not in ("datetime", "string"):
            yield at, f"{what} is {_a(field.type)}, not a date"
        elif field.values is not None:
            yield at, f"{what} takes only {field.values}; use choose instead"
    elif isinstance(value, Choose):
        for option in value.options():
            yield from _one(field, option, at, what)
    elif isinstance(value, Between):
        whole = all(type(v) is int for v in value.between)
        if field.type == "integer" and not whole:
            yield at, f"{what} is an integer; give whole numbers to between"
        elif field.type not in ("number", "integer"):
            yield at, f"{what} is {_a(field.type)}, not a number"
        elif field.values is not None:
            yield at, f"{what} takes only {field.values}; use choose instead of between"
    else:
        yield from _one(field, value, at, what)


def _one(field: FieldSpec, value: Any, at: Path_, what: str) -> Iterator[tuple[Path_, str]]:
    if not fits(field.type, value):
        yield at, f"{what} is {_a(field.type)}, not {_a(type_of(value) or 'null')} ({value!r})"
    elif field.values is not None and value not in field.values:
        yield at, f"{what}: {value!r} is not one of {field.values}"


def _a(kind: str) -> str:
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"
