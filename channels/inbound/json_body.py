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


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests more than `limit` levels, walked without recursion."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


def _unstorable_text(value: Any) -> str | None:
    """Where `value` holds a string (key or value) no store can keep, and why; else None."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if isinstance(item, str):
            texts = [(item, path)]
        elif isinstance(item, dict):
            texts = [(key, f"a key in {path or 'the body'}") for key in item]
            stack.extend((v, f"{path}.{k}" if path else str(k)) for k, v in item.items())
        elif isinstance(item, list):
            texts = []
            stack.extend((v, f"{path}.{i}" if path else str(i)) for i, v in enumerate(item))
        else:
            continue
        for text, where in texts:
            found = _UNSTORABLE.search(text)
            if found is not None:
                char = found.group()
                what = "a NUL character" if char == "\x00" else "a lone UTF-16 surrogate"
                return f"{where or 'the body'} holds {what} (\\u{ord(char):04x})"
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
    if _deeper_than(payload, MAX_DEPTH):
        raise BadRequest(f"the JSON nests deeper than {MAX_DEPTH} levels")
    if _SUSPECT_ESCAPE.search(text):
        problem = _unstorable_text(payload)
        if problem is not None:
            raise BadRequest(f"the JSON cannot be stored: {problem}")
    return payload
