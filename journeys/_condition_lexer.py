"""The tokenizer of the condition language (see journeys/conditions.py)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, NamedTuple

from journeys.errors import ConditionSyntaxError

_KEYWORDS = frozenset({"and", "or", "not", "in"})
_CONSTANTS: dict[str, Any] = {"true": True, "false": False, "null": None}
_CONSTANTS |= {"True": True, "False": False, "None": None}  # Python's spellings, from YAML habits
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"'}
HINTS = {"=": "'=='", "!": "'!=' or 'not'", "&": "'and'", "|": "'or'"}
# A duration literal (90d, 1d12h) is tried before a number, so that '90d' is one token.
_SCANNER = re.compile(
    r"(?P<ws>\s+)|(?P<dur>[0-9]+[wdhms](?:[0-9]+[wdhms])*(?![\w.]))"
    r"|(?P<num>-?[0-9]+(?:\.[0-9]+)?)|(?P<name>[^\W\d]\w*)"
    r"|(?P<op>==|!=|<=|>=|<|>)|(?P<arith>[+-])|(?P<punct>[()\[\],.])|(?P<str>['\"])"
)


class Token(NamedTuple):
    kind: str  # "value" (a literal), "name", "word" (keyword), "op", "arith", "punct" or "end"
    value: Any
    pos: int
    text: str


# Longer literals are no business figure, and Python refuses to read ints of 4,300
# digits or more at all.
MAX_NUMBER_DIGITS = 30


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    while pos < len(source):
        match = _SCANNER.match(source, pos)
        if match is None:
            hint = f"; use {HINTS[source[pos]]}" if source[pos] in HINTS else ""
            raise ConditionSyntaxError(source, pos, f"unexpected {source[pos]!r}{hint}")
        kind, text, end = match.lastgroup, match.group(), match.end()
        if kind == "str":
            value, end = _read_string(source, pos)
            tokens.append(Token("value", value, pos, source[pos:end]))
        elif kind == "dur":
            tokens.append(Token("value", _duration(source, pos, text), pos, text))
        elif kind == "num" and text[0] == "-" and _ends_operand(tokens):
            # 'now-90d': a minus after an operand subtracts; it does not sign the number.
            tokens.append(Token("arith", "-", pos, "-"))
            end = pos + 1
        elif kind == "num":
            after = source[end : end + 1]
            if after == "." or after == "_" or after.isalnum():
                raise ConditionSyntaxError(source, pos, f"malformed number {text + after!r}")
            digits = sum(c.isdigit() for c in text)
            if digits > MAX_NUMBER_DIGITS:
                raise ConditionSyntaxError(
                    source, pos, f"a number of {digits} digits (at most {MAX_NUMBER_DIGITS})"
                )
            tokens.append(Token("value", float(text) if "." in text else int(text), pos, text))
        elif kind == "name" and text in _CONSTANTS:
            tokens.append(Token("value", _CONSTANTS[text], pos, text))
        elif kind == "name" and text in _KEYWORDS:
            tokens.append(Token("word", text, pos, text))
        elif kind != "ws":
            tokens.append(Token(kind or "", text, pos, text))
        pos = end
    tokens.append(Token("end", None, len(source), ""))
    return tokens


def _ends_operand(tokens: list[Token]) -> bool:
    return bool(tokens) and (tokens[-1].kind in ("value", "name") or tokens[-1].text in ")]")


def _duration(source: str, pos: int, text: str) -> timedelta:
    from journeys.types import parse_duration

    try:
        return parse_duration(text)
    except ValueError:
        raise ConditionSyntaxError(
            source, pos, f"malformed duration {text!r}; write units largest first, e.g. 1d12h"
        ) from None


def _read_string(source: str, start: int) -> tuple[str, int]:
    chars: list[str] = []
    i = start + 1
    while i < len(source):
        char = source[i]
        if char == source[start]:
            return "".join(chars), i + 1
        if char == "\\":
            code = source[i + 1 : i + 2]
            if not code:
                break
            digits = source[i + 2 : i + 6]
            if code == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", digits):
                char, i = chr(int(digits, 16)), i + 5
            elif code in _ESCAPES:
                char, i = _ESCAPES[code], i + 1
            else:
                raise ConditionSyntaxError(
                    source, i, f"unknown escape '\\{code}'; write '\\\\' for a backslash"
                )
        chars.append(char)
        i += 1
    raise ConditionSyntaxError(source, start, "unterminated string starting")
