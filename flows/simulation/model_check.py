"""A behaviour model checked against the tracking plan and the journeys it drives.

Every event the model makes must be one the plan declares, with data fields the plan
declares for it and values of their type (and among their `values`, where the plan
lists them); customer attributes likewise. A stage a rule follows must exist in its
journey. Each problem names its file:line, as the journeys' own checks do: a model
that passes runs, one that does not is never half simulated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from journeys.errors import Problem, did_you_mean
from journeys.loader import locate
from journeys.model import Journey
from journeys.tracking import FieldSpec, TrackingPlan, fits, type_of
from journeys.yaml_source import SourceMap

from .model import BehaviourModel, ModelError, Outcome, Rule
from .model_data import Between, Choose, Data, DateRange, Maybe, Moment, Scalar

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
    stages = {j.journey: [s.key for s in j.stages] for j in journeys}
    defaults: Path_ = ("defaults",)
    yield from _attributes(plan, model.defaults.attributes, (*defaults, "attributes"))
    for n, rule in enumerate(model.defaults.behaviour):
        yield from _rule(plan, stages, rule, (*defaults, "behaviour", n))
    for p, persona in enumerate(model.personas):
        at: Path_ = ("personas", p)
        if persona.attributes is not None:
            yield from _attributes(plan, persona.attributes, (*at, "attributes"))
        start = persona.starts_with
        yield from _event(plan, start.event, (*at, "starts_with", "event"))
        yield from _data(plan, start.event, start.data, (*at, "starts_with", "data"))
        yield from _drawn_before(start.data, set(), (*at, "starts_with", "data"))
        for n, rule in enumerate(persona.behaviour):
            yield from _rule(plan, stages, rule, (*at, "behaviour", n))


def _rule(
    plan: TrackingPlan | None, stages: dict[str, list[str]], rule: Rule, at: Path_
) -> Iterator[tuple[Path_, str]]:
    if rule.after is not None:
        yield from _event(plan, rule.after, (*at, "after"))
        yield from _fields(plan, rule.after, rule.matching, (*at, "matching"), "matching")
    if rule.after_stage is not None:
        journey, _, stage = rule.after_stage.partition(".")
        if journey not in stages:
            yield (*at, "after_stage"), f"no journey '{journey}'{did_you_mean(journey, stages)}"
        elif stage not in stages[journey]:
            hint = did_you_mean(stage, stages[journey])
            yield (*at, "after_stage"), f"{journey} has no stage '{stage}'{hint}"
    if rule.one_of is None:
        yield from _outcome(plan, rule.after, rule.outcomes[0], at)
    for k, outcome in enumerate(rule.one_of or ()):
        yield from _outcome(plan, rule.after, outcome, (*at, "one_of", k))


def _outcome(
    plan: TrackingPlan | None, after: str | None, outcome: Outcome, at: Path_
) -> Iterator[tuple[Path_, str]]:
    for k, name in enumerate(outcome.keep):
        for event in (after, outcome.then):
            if event is not None:
                yield from _declared(plan, event, name, (*at, "keep", k))
    if outcome.of is not None and after is not None:
        yield from _moment_of(plan, after, outcome.of, (*at, "of"))
    yield from _event(plan, outcome.then, (*at, "then"))
    yield from _data(plan, outcome.then, outcome.data, (*at, "data"))
    yield from _drawn_before(outcome.data, set(outcome.keep), (*at, "data"))


def _moment_of(
    plan: TrackingPlan | None, event: str, name: str, at: Path_
) -> Iterator[tuple[Path_, str]]:
    """A delay counted from a field of the cause: a moment the plan declares for it."""
    spec = plan.events.get(event) if plan is not None else None
    if spec is None:
        return
    field = spec.data.get(name)
    if field is None:
        yield from _declared(plan, event, name, at)
    elif field.type != "datetime":
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


def _fields(
    plan: TrackingPlan | None,
    event: str,
    wanted: dict[str, Scalar | list[Scalar]],
    at: Path_,
    what: str,
) -> Iterator[tuple[Path_, str]]:
    spec = plan.events.get(event) if plan is not None else None
    for name, value in wanted.items():
        if spec is None:
            break
        field = spec.data.get(name)
        if field is None:
            yield from _declared(plan, event, name, (*at, name))
            continue
        options = value if isinstance(value, list) else [value]
        for option in options:
            yield from _one(field, option, (*at, name), f"{what} {event} data.{name}")


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
