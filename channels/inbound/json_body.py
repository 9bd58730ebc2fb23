"""Reading a JSON body a sender signed: bounded in depth and in the size of numbers.

Senders retry every 5xx, so a body that cannot be taken must be refused with a 4xx and
a reason, never fail inside the service: nesting deep enough to exhaust the recursion
limit, an integer of thousands of digits (Python refuses to convert those), a float
that overflows to infinity or a NaN (neither is valid JSON, and PostgreSQL's JSONB
rejects them when the event is stored), a string holding `\\u0000` (PostgreSQL keeps
no NUL in text or JSONB) or a lone UTF-16 surrogate such as `\\ud800` (not text at
all: it cannot be encoded as UTF-8 for any store).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from .errors import BadRequest

# An event is a flat record with a `data` object; 32 levels leave room for any real one.
MAX_DEPTH = 32
# Order totals, ids and counters fit; a number of more digits is no business datum.
MAX_DIGITS = 64

# Only these escapes can put a NUL or a lone surrogate into a parsed string (the raw
# characters are not valid JSON or not UTF-8), so bodies without them skip the walk.
_SUSPECT_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"an integer of {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _constant(text: str) -> Any:
    raise ValueError(f"{text} is not a JSON value")


# A place in the payload as (key or index, parent): a child's place costs one pair, not
# a copy of its parent's path (long keys over many elements would take gigabytes).
_Place = tuple[str | int, "_Place"] | None


def _shown(place: _Place) -> str:
    segments: list[str] = []
    while place is not None:
        segment, place = place
        segments.append(str(segment)[:40])
    return ".".join(reversed(segments)) or "the body"


def _unstorable(text: str) -> str | None:
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    what = "a NUL character" if char == "\x00" else "a lone UTF-16 surrogate"
    return f"holds {what} (\\u{ord(char):04x})"


def _children(item: Any) -> Iterator[tuple[str | int, Any]] | None:
    if isinstance(item, dict):
        return iter(item.items())
    if isinstance(item, list):
        return enumerate(item)
    return None


def _problem(payload: Any, *, texts: bool) -> str | None:
    """What no store can take in `payload`: nesting past MAX_DEPTH levels and, with
    `texts`, a string (key or value) it cannot keep; None if there is nothing.

    Depth first with one iterator per open level, so memory stays bounded by the depth
    however wide the payload.
    """
    if texts and isinstance(payload, str) and (why := _unstorable(payload)):
        return f"cannot be stored: the body {why}"
    root = _children(payload)
    stack: list[tuple[Iterator[tuple[str | int, Any]], _Place]] = []
    if root is not None:
        stack.append((root, None))
    while stack:
        children, place = stack[-1]
        step = next(children, None)  # the next child of this level
        if step is None:
            stack.pop()
            continue
        segment, child = step
        if len(stack) + 1 > MAX_DEPTH:  # the root is level 1
            return f"nests deeper than {MAX_DEPTH} levels"
        if texts and isinstance(segment, str) and (why := _unstorable(segment)):
            return f"cannot be stored: a key in {_shown(place)} {why}"
        if texts and isinstance(child, str) and (why := _unstorable(child)):
            return f"cannot be stored: {_shown((segment, place))} {why}"
        grandchildren = _children(child)
        if grandchildren is not None:
            stack.append((grandchildren, (segment, place)))
    return None


def load_json(body: bytes) -> Any:
    """The parsed body, or BadRequest naming what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadRequest(f"the body is not UTF-8 (byte {exc.start})") from None
    try:
        payload = json.loads(
            text, parse_int=_integer, parse_float=_number, parse_constant=_constant
        )
    except json.JSONDecodeError as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise BadRequest(f"the JSON nests deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:
        raise BadRequest(f"the body is not acceptable JSON: {exc}") from None
    problem = _problem(payload, texts=_SUSPECT_ESCAPE.search(text) is not None)
    if problem is not None:
        raise BadRequest(f"the JSON {problem}")
    return payload
