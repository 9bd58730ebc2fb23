"""Read journey YAML files into the model, reporting every problem with its place.

YAML is read with the safe loader, but with YAML 1.2's plain scalars: in YAML 1.1
`no`, `on`, `yes` are booleans (a stage called `no` or a country code `NO` would
silently become False) and `21:00` is the integer 1260. Only true/false are booleans
here, and times stay strings.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .errors import JourneyError, Problem, did_you_mean
from .model import ACTION_TAGS, TRIGGER_TAGS, Journey

Path_ = tuple[str | int, ...]
SourceMap = dict[Path_, tuple[int, int]]


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 core-schema booleans, ints and floats."""


_Loader.yaml_implicit_resolvers = {
    first: [
        (tag, rx)
        for tag, rx in resolvers
        if tag
        not in {
            "tag:yaml.org,2002:bool",
            "tag:yaml.org,2002:int",
            "tag:yaml.org,2002:float",
        }
    ]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?[0-9]+$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"),
    list("-+0123456789."),
)


def _build(node: yaml.Node, path: Path_, spots: SourceMap, loader: _Loader, file: str) -> Any:
    spots[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if key in out:
                line = key_node.start_mark.line + 1
                raise JourneyError(
                    [
                        Problem(
                            f"duplicate key '{key}'",
                            file,
                            line,
                            key_node.start_mark.column + 1,
                            (*path, key),
                        )
                    ]
                )
            out[key] = _build(value_node, (*path, key), spots, loader, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, (*path, i), spots, loader, file) for i, item in enumerate(node.value)]
    return loader.construct_object(node, deep=True)


def read_yaml(text: str, file: str = "<string>") -> tuple[Any, SourceMap]:
    """Parse YAML into plain data plus a map from field path to (line, column)."""
    spots: SourceMap = {}
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise JourneyError(
                [
                    Problem(
                        "the file is empty; a journey needs at least "
                        "'journey', 'version', 'name' and 'stages'",
                        file,
                        1,
                        1,
                    )
                ]
            )
        return _build(node, (), spots, loader, file), spots
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise JourneyError(
            [Problem(f"YAML syntax error: {exc.problem or exc}", file, line, col)]
        ) from None
    finally:
        loader.dispose()


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
    'email' names the union member, not a field.
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
        out.append(part)
    return tuple(out)


def _fields_at(path: Path_, data: Any) -> list[str]:
    """The field names valid at `path` (for 'unknown field' hints), walking the model."""
    from . import model

    cls: type[BaseModel] | None = Journey
    node = data
    for part in path:
        if cls is None:
            return []
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        info = cls.model_fields.get(part) or next(
            (f for f in cls.model_fields.values() if f.alias == part), None
        )
        node = node.get(part) if isinstance(node, dict) else None
        if info is None:
            return []
        cls = _model_in(info.annotation, node, model)
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
    return {"event": m.EventTrigger, "after": m.DelayTrigger, "no_event_for": m.InactivityTrigger}


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


def journey_files(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Expand folders into their *.yaml / *.yml files, in a stable order."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"})
        else:
            yield path


def load_journey(path: str | Path) -> Journey:
    path = Path(path)
    return parse_journey(path.read_text(encoding="utf-8"), str(path))[0]
