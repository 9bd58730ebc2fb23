"""Read journey files into the model, reporting every problem with its place.

The YAML itself is read by `yaml_source` (bounded, safe, YAML 1.2 scalars); here the
data becomes a `Journey`, and each validation error is mapped back to its file, line
and column with a hint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .errors import JourneyError, Problem, did_you_mean
from .model import ACTION_TAGS, TRIGGER_TAGS, Journey
from .model_abtest import METRIC_TAGS
from .yaml_source import Path_, SourceMap, read_source, read_yaml

__all__ = [
    "Path_",
    "SourceMap",
    "journey_files",
    "load_journey",
    "locate",
    "parse_journey",
    "read_source",
    "read_yaml",
]


def locate(spots: SourceMap, path: Path_) -> tuple[int | None, int | None]:
    """The closest known place for a field path (its deepest existing ancestor)."""
    for end in range(len(path), -1, -1):
        hit = spots.get(path[:end]) or spots.get(_unlisted(path[:end]))
        if hit:
            return hit
    return None, None


def _unlisted(path: Path_) -> Path_:
    """The path as written when a single trigger or action has no list around it.

    The model wraps such an item into a list and reports it as item 0, but the
    source map only knows the mapping itself.
    """
    return tuple(
        part
        for i, part in enumerate(path)
        if not (type(part) is int and part == 0 and i and path[i - 1] in ("enter_when", "on_enter"))
    )


def _clean_loc(loc: tuple[Any, ...]) -> Path_:
    """Drop the union-tag segments pydantic puts into error locations.

    Inside a tagged union pydantic reports (..., 'on_enter', 0, 'email', 'after'), where
    'email' names the union member, not a field; likewise an A/B test's metric
    ('named' or 'event').
    """
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if (
            i >= 2
            and isinstance(loc[i - 1], int)
            and loc[i - 2] in ("on_enter", "enter_when")
            and part in (*ACTION_TAGS, *TRIGGER_TAGS)
        ):
            continue
        if i >= 2 and loc[i - 1] == "metric" and loc[i - 2] == "ab_test" and part in METRIC_TAGS:
            continue
        out.append(part)
    return tuple(out)


def _fields_at(path: Path_, data: Any) -> list[str]:
    """The field names valid at `path` (for 'unknown field' hints), walking the model."""
    from . import model

    cls: type[BaseModel] | None = Journey
    node = data
    annotation: Any = None
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            # A list of tagged unions (actions, triggers): the item decides the model.
            if annotation is not None and isinstance(node, dict):
                cls = _model_in(annotation, node, model) or cls
            continue
        if cls is None:
            return []
        info = cls.model_fields.get(part) or next(
            (f for f in cls.model_fields.values() if f.alias == part), None
        )
        node = node.get(part) if isinstance(node, dict) else None
        if info is None:
            return []
        annotation = info.annotation
        cls = _model_in(annotation, node, model)
    if cls is None:
        return []
    return sorted(f.alias or name for name, f in cls.model_fields.items())


def _model_in(annotation: Any, node: Any, model: Any) -> type[BaseModel] | None:
    text = repr(annotation)
    if "Action" in text and isinstance(node, dict):
        tag = next((t for t in ACTION_TAGS if t in node), None)
        return _ACTION_MODELS(model).get(tag) if tag else None
    if "Trigger" in text and isinstance(node, dict):
        tag = next((t for t in TRIGGER_TAGS if t in node), None)
        return _TRIGGER_MODELS(model).get(tag) if tag else None
    for name in (
        "Stage",
        "EntryRule",
        "EndRule",
        "Reentry",
        "Settings",
        "Sender",
        "Migration",
        "PromoCodeSpec",
        "Variant",
        "AbTest",
        "AbEventMetric",
    ):
        if re.search(rf"\b{name}\b", text):
            return getattr(model, name)  # type: ignore[no-any-return]
    return None


def _ACTION_MODELS(m: Any) -> dict[str, type[BaseModel]]:
    return {
        "email": m.EmailAction,
        "sms": m.SmsAction,
        "webhook": m.WebhookAction,
        "set_attribute": m.SetAttributeAction,
        "move_to": m.MoveToAction,
        "promo_code": m.PromoCodeAction,
    }


def _TRIGGER_MODELS(m: Any) -> dict[str, type[BaseModel]]:
    return {
        "event": m.EventTrigger,
        "after": m.DelayTrigger,
        "no_event_for": m.InactivityTrigger,
        "every_year": m.YearlyTrigger,
        "every": m.ScheduleTrigger,
        "segment": m.SegmentTrigger,
    }


def _message(err: Any, path: Path_, data: Any) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        field = str(path[-1])
        return f"unknown field '{field}'{did_you_mean(field, _fields_at(path[:-1], data))}"
    if kind == "missing":
        return f"required field '{path[-1]}' is missing"
    if kind == "string_pattern_mismatch":
        pattern = err.get("ctx", {}).get("pattern", "")
        hint = _PATTERN_HINTS.get(pattern, f"it must match {pattern}")
        return f"{err.get('input')!r} is not valid here: {hint}"
    if msg.startswith("Value error, "):
        return str(msg)[len("Value error, ") :]
    return str(msg)


_PATTERN_HINTS = {
    r"^[a-z][a-z0-9_]*$": "use lower_snake_case (a-z, 0-9, _), starting with a letter",
    r"^[a-z]{2}(-[A-Z]{2})?$": "use a language code such as 'de', 'en' or 'de-AT'",
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$": "event types are dotted lower-case names "
    "such as 'order.completed'",
    r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$": "template names are lower_snake_case, "
    "optionally in folders: 'review_request' or 'lifecycle/review_request'",
}


def parse_journey(text: str, file: str = "<string>") -> tuple[Journey, SourceMap]:
    """Parse and validate one journey; raise JourneyError with every schema problem."""
    data, spots = read_yaml(text, file)
    try:
        return Journey.model_validate(data), spots
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = _clean_loc(err["loc"])
            line, col = locate(spots, path)
            problems.append(Problem(_message(err, path, data), file, line, col, path))
        raise JourneyError(problems) from None


# The tracking plan lives beside the journeys (see journeys/tracking.py); it is no journey.
PLAN_FILE = "tracking_plan.yaml"


def journey_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand folders into their *.yaml / *.yml files, in a stable order.

    A folder's `tests/` holds scenario tests of its journeys (`journeyflow test`), not
    journeys, and is left out.
    """
    from .config import SCENARIOS_FOLDER

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(
                p
                for p in path.rglob("*")
                if p.suffix in {".yaml", ".yml"}
                and p.name != PLAN_FILE
                and p.relative_to(path).parts[0] != SCENARIOS_FOLDER
            )
        else:
            yield path


def load_journey(path: str | Path) -> Journey:
    path = Path(path)
    return parse_journey(read_source(path), str(path))[0]
