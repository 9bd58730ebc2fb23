"""The tracking plan: the events journeys react to and the customer attributes they read.

A catalogue beside the journeys (`tracking_plan.yaml` in the journeys folder), the way
Segment Protocols or Avo plans declare what is tracked:

    events:
      order.completed:
        description: {de: Bestellung abgeschlossen, en: Order completed}
        data:
          total: {type: number, description: Order total incl. VAT}
    customer:
      segment: {type: string, values: [b2c, b2b, vip]}
    undeclared_events: report      # or: refuse

This typed model is the single source: the loader, the validator's checks of
conditions and templates (`validate_tracking`), the receiver's check of inbound events
and the JSON Schema (`journeyflow schema`) all read it. Without a plan nothing is
checked against one.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import JourneyError, Problem
from .loader import PLAN_FILE, _clean_loc, locate, read_source, read_yaml
from .model import Localized
from .types import EventType

FieldType = Literal["string", "number", "integer", "boolean", "datetime", "array", "object"]
# The customer's own fields, always there (profile columns and the id).
BUILT_IN_CUSTOMER: dict[str, FieldType] = {
    "id": "string",
    "email": "string",
    "phone": "string",
    "first_name": "string",
    "last_name": "string",
    "locale": "string",
    "timezone": "string",
    "country": "string",
    "attributes": "object",
}
AttributeName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FieldSpec(_Model):
    """One field of an event's data, or one customer attribute."""

    type: FieldType
    description: Localized | None = None
    values: list[str | int | float | bool] | None = Field(
        default=None, min_length=1, description="The values it may take, when it is a set"
    )


class EventSpec(_Model):
    """An event type: what it means and the fields its data carries."""

    description: Localized | None = None
    data: dict[AttributeName, FieldSpec] = Field(default_factory=dict)

    def says(self, locale: str) -> str | None:
        """The description in `locale` (or its first), None without one."""
        if isinstance(self.description, dict):
            return self.description.get(locale) or next(iter(self.description.values()), None)
        return self.description


class TrackingPlan(_Model):
    """The events and customer attributes a team's journeys may use."""

    events: dict[EventType, EventSpec] = Field(default_factory=dict)
    customer: dict[AttributeName, FieldSpec] = Field(
        default_factory=dict, description="Custom attributes, besides the built-in profile"
    )
    undeclared_events: Literal["report", "refuse"] = Field(
        default="report",
        description="An inbound event of a type the plan does not declare: stored and "
        "reported (report), or refused with 422 (refuse)",
    )

    def customer_fields(self) -> dict[str, FieldType]:
        return {**BUILT_IN_CUSTOMER, **{k: v.type for k, v in self.customer.items()}}


def parse_plan(text: str, file: str = "<string>") -> TrackingPlan:
    """Read a tracking plan; a JourneyError names every problem's line and field."""
    data, spots = read_yaml(text, file)
    try:
        return TrackingPlan.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _clean_loc(tuple(err["loc"]))
            line, col = locate(spots, path)
            message = str(err["msg"]).removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = f"unknown field '{path[-1]}'"
            problems.append(Problem(message, file, line, col, path))
        raise JourneyError(problems) from None


def plan_path(folder: Path) -> Path:
    return folder / PLAN_FILE


def load_plan(folder: Path) -> TrackingPlan | None:
    """The plan in a journeys folder, None when the folder has none."""
    path = plan_path(folder)
    if not path.is_file():
        return None
    return parse_plan(read_source(path), str(path))


def type_of(value: Any) -> FieldType | None:
    """The plan's type of a JSON value (None for null)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, datetime):
        return "datetime"
    return "object"


def fits(declared: FieldType, value: Any) -> bool:
    """Whether a JSON value fits a declared type (an integer is a number; a datetime is
    an ISO string in JSON)."""
    found = type_of(value)
    if found is None or found == declared:
        return True
    if declared == "number" and found == "integer":
        return True
    return declared == "datetime" and found == "string" and _is_iso(value)


def _is_iso(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def check_event_data(plan: TrackingPlan, event_type: str, data: dict[str, Any]) -> list[str]:
    """Why an event's data does not fit the plan: 'data.total: expected number, got
    string'; empty when it fits or the type is undeclared (see `undeclared_events`)."""
    spec = plan.events.get(event_type)
    if spec is None:
        return []
    wrong = []
    for name, value in data.items():
        field = spec.data.get(name)
        if field is not None and not fits(field.type, value):
            wrong.append(f"data.{name}: expected {field.type}, got {type_of(value)}")
        elif field is not None and field.values is not None and value not in field.values:
            wrong.append(f"data.{name}: {value!r} is not one of {field.values}")
    return wrong
