"""The behaviour model: who the simulated customers are and what they do, as typed data.

A YAML file (the shipped one: `flows/data/behaviour.yaml`) read into `BehaviourModel`,
the single source the generator, the checks against the tracking plan and the docs
follow:

    defaults:
      profiles: [{share: 80, locale: de, country: DE, timezone: Europe/Berlin}, ...]
      consent: {email: {subscribed: 70, none: 30}, sms: {subscribed: 50, none: 50}}
    personas:
      - key: laptop_buyer
        share: 25
        starts_with: {event: product.viewed, data: {category: laptops}}
        behaviour:
          - {after: order.completed, then: order.delivered, p: 0.95, in: 2d..5d}
          - {after_stage: customer_lifecycle.evaluation, then: review.submitted, p: 0.6, in: 1d..4d}
          - after: cart.updated
            one_of:                       # at most one of them: ordered, emptied, or left
              - {then: order.completed, p: 0.35, in: 10m..2h, keep: [items, total]}
              - {then: cart.updated, p: 0.15, in: 5m..1h, data: {item_count: 0}}

Shares are relative weights (they need not add up to 100). The forms of an event's
data and of the attributes (values, choices, numbers, dates, moments, values given
only sometimes) are in `model_data`.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from journeys.errors import JourneyError, Problem
from journeys.loader import _clean_loc, locate
from journeys.types import EventType, Key, Locale, QuietHours, TimeZone
from journeys.yaml_source import SourceMap, read_source, read_yaml

from .model_data import (
    Between,
    Choose,
    Data,
    DataValue,
    DateRange,
    DelayRange,
    FieldName,
    Maybe,
    Moment,
    Probability,
    Scalar,
    Share,
    check_data,
)
from .model_messages import MessageModel

SHIPPED_MODEL = Path(__file__).resolve().parent.parent / "data" / "behaviour.yaml"
# The demo's sample starts here: by default a simulation runs over the same days.
DEFAULT_START = datetime(2026, 9, 1, tzinfo=UTC)

ConsentStatus = Literal["subscribed", "pending", "unsubscribed", "none"]
ConsentChange = dict[Literal["email", "sms"], Literal["subscribed", "unsubscribed"]]
Source = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]*$", max_length=64)]
__all__ = ["Between", "Choose", "DataValue", "DateRange", "Maybe", "Moment", "Scalar"]


class ModelError(JourneyError):
    """A behaviour model that cannot be simulated; every problem with its file:line."""

    def __str__(self) -> str:
        n = len(self.errors)
        head = f"{n} problem{'s' if n != 1 else ''} in the behaviour model"
        return head + "".join(f"\n  {p}" for p in self.problems)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Profile(_Model):
    """Where a customer lives: language, country and time zone, with a share."""

    share: Share = 1.0
    locale: Locale
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    timezone: TimeZone
    phone: Annotated[float, Field(ge=0, le=1, description="share with a mobile number")] = 1.0


_NO_RECORD: dict[ConsentStatus, float] = {"none": 1.0}


class ConsentMix(_Model):
    """Consent on record when a customer first appears, per channel (`none`: no record)."""

    email: dict[ConsentStatus, Share] = Field(default_factory=lambda: _NO_RECORD.copy())
    sms: dict[ConsentStatus, Share] = Field(default_factory=lambda: _NO_RECORD.copy())


class Emits(_Model):
    """An event a customer sends: its data, and the consent that comes with it (a
    confirmation link clicked makes email consent `subscribed`, as the link page does)."""

    data: Data = Field(default_factory=dict)
    consent: ConsentChange = Field(default_factory=dict)
    source: Source = "simulation"

    @field_validator("data")
    @classmethod
    def _texts(cls, data: Data) -> Data:
        return check_data(data)


class Start(Emits):
    """The event a persona's customer first appears with."""

    event: EventType


class Outcome(Emits):
    """An event that follows a cause: how likely, how soon, with what data."""

    then: EventType
    p: Probability = 1.0
    delay: DelayRange = Field(alias="in")
    of: FieldName | None = Field(
        None, description="the delay counts from this moment of the cause's data"
    )
    keep: list[str] = Field(default_factory=list, description="data copied from the event")


_OUTCOME_FIELDS = ("then", "p", "in", "of", "keep", "data", "consent", "source")


class Rule(_Model):
    """After an event (or a stage entered), another event follows: how likely, how soon.

    The cause's data (`matching`, `keep`, `of`) is the event's own, or for a stage the
    event that entered it: for a stage entered by a wait (`after`, `no_event_for`) the
    event that entered the stage waited in, as the stage's templates see it; a stage
    entered otherwise (a date, a schedule, a segment, a move) has none.

    `then` names one event (with `p`, `in`, `data`, ...); `one_of` lists several
    outcomes of which at most one happens, each with its `p` (what the p's leave is
    nothing): a cart is ordered, emptied, or left."""

    after: EventType | None = None
    after_stage: Annotated[
        str | None,
        Field(pattern=r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$", description="journey.stage"),
    ] = None
    matching: dict[str, Scalar | list[Scalar]] = Field(
        default_factory=dict, description="only when the event's data has these values"
    )
    one_of: Annotated[list[Outcome], Field(min_length=1)] | None = None
    # One outcome written in the rule itself (the fields of Outcome).
    then: EventType | None = None
    p: Probability = 1.0
    delay: DelayRange | None = Field(None, alias="in")
    of: FieldName | None = None
    keep: list[str] = Field(default_factory=list)
    data: Data = Field(default_factory=dict)
    consent: ConsentChange = Field(default_factory=dict)
    source: Source = "simulation"
    _outcomes: tuple[Outcome, ...] = PrivateAttr(default=())

    @field_validator("data")
    @classmethod
    def _texts(cls, data: Data) -> Data:
        return check_data(data)

    @model_validator(mode="after")
    def _one_cause(self) -> Rule:
        if (self.after is None) == (self.after_stage is None):
            raise ValueError("a rule follows either an event (after) or a stage (after_stage)")
        if self.one_of is not None:
            written = [name for name in _OUTCOME_FIELDS if name in self._given()]
            if written:
                raise ValueError(f"{written[0]} belongs in each outcome of one_of, not the rule")
            if sum(o.p for o in self.one_of) > 1 + 1e-9:
                raise ValueError("the p's of one_of add up to more than 1: at most one happens")
            self._outcomes = tuple(self.one_of)
        elif self.then is None or self.delay is None:
            raise ValueError("a rule needs then and in (one event), or one_of (outcomes)")
        else:
            fields = {name: getattr(self, name) for name in Outcome.model_fields}
            self._outcomes = (Outcome.model_construct(**fields),)
        # matching, keep and of read the rule's cause: the event it follows, or for a
        # stage the event that entered it (see flows/simulation/population.py).
        return self

    def _given(self) -> set[str]:
        aliases = {"delay": "in"}
        return {aliases.get(name, name) for name in self.model_fields_set}

    @property
    def outcomes(self) -> tuple[Outcome, ...]:
        """What may follow, as outcomes (a rule with `then` has one)."""
        return self._outcomes


class Defaults(_Model):
    """What every persona has unless it says otherwise; `behaviour` applies to all."""

    profiles: Annotated[list[Profile], Field(min_length=1)]
    consent: ConsentMix = Field(default_factory=ConsentMix)
    attributes: Data = Field(default_factory=dict)
    behaviour: list[Rule] = Field(default_factory=list)


class Persona(_Model):
    key: Key
    description: str | None = None
    share: Share
    profiles: Annotated[list[Profile], Field(min_length=1)] | None = None
    consent: ConsentMix | None = None
    attributes: Data | None = None
    starts_with: Start
    behaviour: list[Rule] = Field(default_factory=list)


class BehaviourModel(_Model):
    """Personas with their shares, profiles, consent and behaviour."""

    description: str | None = None
    start: datetime = Field(DEFAULT_START, description="the first simulated day (UTC)")
    active_hours: QuietHours = Field(
        (time(7, 0), time(22, 0)),
        description="when people act, in their own time zone: later events move into it",
    )
    max_events: Annotated[int, Field(ge=1, le=10_000)] = Field(
        200, description="per customer: a rule that feeds itself stops here"
    )
    defaults: Defaults
    personas: Annotated[list[Persona], Field(min_length=1)]
    messages: MessageModel | None = Field(
        None, description="what customers do with their messages (see model_messages)"
    )

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("give the start with a time zone, e.g. 2026-09-01T00:00:00Z")
        return value.astimezone(UTC)

    @field_validator("personas")
    @classmethod
    def _unique(cls, personas: list[Persona]) -> list[Persona]:
        seen: set[str] = set()
        for persona in personas:
            if persona.key in seen:
                raise ValueError(f"persona '{persona.key}' is named twice")
            seen.add(persona.key)
        return personas

    def rules_of(self, persona: Persona) -> list[Rule]:
        return [*self.defaults.behaviour, *persona.behaviour]


def parse_model(text: str, file: str = "<string>") -> tuple[BehaviourModel, SourceMap]:
    """The model and where each field stands; ModelError names every problem's line."""
    try:
        data, spots = read_yaml(text, file)
    except JourneyError as exc:
        raise ModelError(list(exc.problems)) from None
    try:
        return BehaviourModel.model_validate(data), spots
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _clean_loc(_without_union_tags(tuple(err["loc"])))
            line, col = locate(spots, path)
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown field '{path[-1]}'"
            problems.append(Problem(message, file, line, col, path))
        raise ModelError(_first_per_field(problems)) from None


def load_model(path: Path) -> tuple[BehaviourModel, SourceMap]:
    try:
        text = read_source(path)
    except OSError as exc:
        problem = Problem(f"cannot read the file: {exc.strerror or exc}", str(path))
        raise ModelError([problem]) from None
    except JourneyError as exc:
        raise ModelError(list(exc.problems)) from None
    return parse_model(text, str(path))


# pydantic names the member of a union it tried ('choose-form', 'str', 'list[...]', ...).
_SCALAR_TAGS = frozenset({"str", "int", "float", "bool"})
_GENERIC_TAGS = ("list[", "dict[", "function-")


def _is_tag(part: Any) -> bool:
    if not isinstance(part, str):
        return False
    return part in _SCALAR_TAGS or part.endswith("-form") or part.startswith(_GENERIC_TAGS)


def _without_union_tags(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(part for part in loc if not _is_tag(part))


def _first_per_field(problems: list[Problem]) -> list[Problem]:
    """A value that fits no member of a union gets one message per member; the first
    is kept per field (the others say the same thing about the other forms)."""
    seen: set[tuple[Any, ...]] = set()
    kept = []
    for problem in problems:
        if problem.path not in seen:
            seen.add(problem.path)
            kept.append(problem)
    return kept
