"""Reading a scenario file, every problem reported with file:line:column and its field.

The YAML is read as journeys are (`journeys.yaml_source`: bounded, safe, YAML 1.2
scalars, a map from each field to its place); the data then becomes a `ScenarioFile`,
and each validation error is mapped back to its place with a hint.
"""

from __future__ import annotations

import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from journeys.errors import JourneyError, JourneyflowError, Problem, did_you_mean
from journeys.loader import locate
from journeys.yaml_source import Path_, SourceMap, read_source, read_yaml

from .model import STEP_TAGS, Scenario, ScenarioFile, _step_tag


class ScenarioError(JourneyflowError):
    """A scenario file (or several) cannot be run; carries every problem found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__(str(self))

    def __str__(self) -> str:
        n = len(self.problems)
        head = f"{n} problem{'s' if n != 1 else ''} in scenario file"
        return head + "".join(f"\n  {p}" for p in self.problems)


@dataclass(frozen=True)
class ScenarioSource:
    """A scenario file as read: the model, where it came from, where each field stands."""

    path: Path
    model: ScenarioFile
    spots: SourceMap

    def line_of(self, index: int) -> int | None:
        return locate(self.spots, ("scenarios", index))[0]

    def problem(self, path: Path_, message: str) -> Problem:
        line, column = locate(self.spots, path)
        return Problem(message, str(self.path), line, column, path)


def load_scenario_file(path: Path) -> ScenarioSource:
    """Read and validate one scenario file; ScenarioError names every problem."""
    try:
        text = read_source(path)
    except FileNotFoundError:
        raise ScenarioError([Problem("no such file", str(path))]) from None
    except IsADirectoryError:
        raise ScenarioError([Problem("a folder, not a scenario file", str(path))]) from None
    except OSError as exc:
        message = f"cannot read the file: {exc.strerror or exc}"
        raise ScenarioError([Problem(message, str(path))]) from None
    except JourneyError as exc:
        raise ScenarioError(exc.problems) from None
    model, spots = parse_scenarios(text, str(path))
    return ScenarioSource(path, model, spots)


def parse_scenarios(text: str, file: str = "<string>") -> tuple[ScenarioFile, SourceMap]:
    try:
        data, spots = read_yaml(text, file)
    except JourneyError as exc:
        raise ScenarioError([_for_scenarios(p) for p in exc.problems]) from None
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        message = f"a scenario file is a mapping with 'journey' and 'scenarios', not {kind}"
        raise ScenarioError([Problem(message, file, 1, 1)])
    try:
        return ScenarioFile.model_validate(data), spots
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _clean_loc(err["loc"])
            line, col = locate(spots, path)
            problems.append(Problem(_message(err, path, data), file, line, col, path))
        raise ScenarioError(problems) from None


def validate_scenario(data: Any, where: str = "<python>") -> Scenario:
    """One scenario from plain data (a Python test's); ScenarioError names each field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors(include_url=False):
            path = _clean_loc(err["loc"])
            wrapped = {"scenarios": [data]}
            message = _message(err, ("scenarios", 0, *path), wrapped)
            problems.append(Problem(message, where, path=path))
        raise ScenarioError(problems) from None


def _for_scenarios(problem: Problem) -> Problem:
    # The YAML reader speaks of journeys where a file is empty.
    if problem.message.startswith("the file is empty"):
        message = "the file is empty; a scenario file needs 'journey' and 'scenarios'"
        return Problem(message, problem.file, problem.line, problem.column)
    return problem


def _clean_loc(loc: tuple[Any, ...]) -> Path_:
    """Drop what pydantic adds to a location: the step kind inside `events`, and the
    '[key]' marker of a bad mapping key (the key itself names the place)."""
    out: list[str | int] = []
    for i, part in enumerate(loc):
        if part == "[key]":
            continue
        step = i >= 2 and loc[i - 2] == "events" and isinstance(loc[i - 1], int)
        if step and part in STEP_TAGS.values():
            continue
        out.append(part)
    return tuple(out)


def _message(err: Any, path: Path_, data: Any) -> str:
    kind, msg = err["type"], str(err["msg"])
    if kind == "extra_forbidden":
        field = str(path[-1]) if path else "?"
        return f"unknown field '{field}'{did_you_mean(field, _fields_at(path[:-1], data))}"
    if kind == "missing":
        return f"required field '{path[-1]}' is missing"
    if kind == "string_pattern_mismatch":
        shown = _shown(err.get("input"))
        hint = _PATTERN_HINTS.get(err.get("ctx", {}).get("pattern", ""), "")
        return f"{shown} is not valid here{': ' + hint if hint else ''}"
    if kind == "literal_error" and "[key]" in err["loc"]:
        return f"unknown key {_shown(err.get('input'))}: {msg.replace('Input should be', 'use')}"
    if msg.startswith("Value error, "):
        return msg[len("Value error, ") :]
    return msg


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:60] + "…"


_PATTERN_HINTS = {
    r"^[a-z][a-z0-9_]*$": "use lower_snake_case (a-z, 0-9, _), starting with a letter",
    r"^[a-z]{2}(-[A-Z]{2})?$": "use a language code such as 'de', 'en' or 'de-AT'",
    r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$": "event types are dotted lower-case names "
    "such as 'order.completed'",
    r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$": "template names are lower_snake_case, "
    "optionally in folders: 'review_request' or 'lifecycle/review_request'",
    r"^[^\n\r\t]+$": "a name is one line of text",
    r"^[A-Z0-9]{1,12}$": "a prefix is 1 to 12 capital letters or digits",
    r"^[^\x00-\x1f\x7f]+$": "an id has no control characters",
}


# --- the fields valid at a place, for "did you mean" -------------------------------------


def _fields_at(path: Path_, data: Any) -> list[str]:
    # The annotation is resolved to a model only where its value is at hand: a list of
    # steps names its kind in each item.
    annotation: Any = ScenarioFile
    node = data
    for part in path:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            continue
        cls = _model_in(annotation, node)
        info = cls.model_fields.get(str(part)) if cls is not None else None
        if info is None:
            return []
        node = node.get(part) if isinstance(node, dict) else None
        annotation = info.annotation
    cls = _model_in(annotation, node)
    return sorted(cls.model_fields) if cls is not None else []


def _model_in(annotation: Any, node: Any) -> type[BaseModel] | None:
    models = list(dict.fromkeys(_models(annotation)))
    if len(models) > 1 and isinstance(node, dict):
        tag = _step_tag(node)
        return next((m for m in models if _step_tag_of(m) == tag), None)
    return models[0] if len(models) == 1 else None


def _step_tag_of(model: type[BaseModel]) -> str | None:
    probe = {key: None for key in model.model_fields}
    return _step_tag(probe)


def _models(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    for arg in typing.get_args(annotation):
        yield from _models(arg)
