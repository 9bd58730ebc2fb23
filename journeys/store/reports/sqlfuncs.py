"""SQL expressions the reports need that SQLite and PostgreSQL spell differently.

Each compiles to the dialect's own functions and gives the same value on both, so a
figure does not depend on the database it was computed in:

- `epoch_seconds(t)`: a timestamp as whole seconds since 1970 (truncated). Durations
  are differences of these: exact integers on both (SQLite keeps timestamps as text,
  and `julianday` arithmetic in floating point would differ from PostgreSQL's in the
  last digits).
- `json_text(doc, key)`: a JSON document's top-level string or integer as text, NULL
  for anything else (`5` and `"5"` both read `'5'`; `true`, `5.0`, objects, integers
  of 19 digits or more: NULL).
- `json_cents(doc, key)`: a JSON number as whole cents (rounded half away from zero),
  NULL for anything else or beyond ±10^13: integers sum exactly on both, floating
  point sums would not.
- `utc_day(t)`: the UTC day of a timestamp as text, 'YYYY-MM-DD' (the series of
  messages over time are grouped by it).
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import BigInteger, Text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
# Amounts up to ten trillion: the cents fit a 64-bit integer with room to sum them.
_MAX_AMOUNT = 10**13
# Integers SQLite's JSON keeps as integers on every platform, and PostgreSQL as digits:
# at most 18 of them. (BETWEEN, not abs(): abs of the least 64-bit integer overflows.)
_MAX_INTEGER = 10**18 - 1


def check_json_key(key: str, what: str = "field") -> str:
    """A key the JSON helpers may name (letters, digits, underscores): it is written
    into the statement, so nothing else is let through."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise ValueError(
            f"{what} must be a name of letters, digits and underscores (at most 64), not {key!r}"
        )
    return key


class epoch_seconds(FunctionElement[int]):
    type = BigInteger()
    inherit_cache = True
    name = "epoch_seconds"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # The stored text is 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): its first 19 characters are
    # the whole seconds. SQLite's date functions would round the fraction to
    # milliseconds first (…:00.9995 becoming the next second), PostgreSQL truncates.
    value = compiler.process(element.clauses, **kw)
    return f"CAST(strftime('%s', substr({value}, 1, 19)) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)})) AS BIGINT)"


class utc_day(FunctionElement[str]):
    type = Text()
    inherit_cache = True
    name = "utc_day"


@compiles(utc_day, "sqlite")
def _day_sqlite(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    # The store keeps UTC as 'YYYY-MM-DD HH:MM:SS.ffffff': its first ten characters.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(utc_day, "postgresql")
def _day_postgresql(element: utc_day, compiler: SQLCompiler, **kw: Any) -> str:
    column = compiler.process(element.clauses, **kw)
    return f"to_char(({column}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class _JsonField(FunctionElement[Any]):
    inherit_cache = False

    def __init__(self, doc: ColumnElement[Any], key: str) -> None:
        self.key = check_json_key(key)
        super().__init__(doc)


class json_text(_JsonField):
    # The key is no bound parameter: a cached statement would keep the first one's.
    inherit_cache = False
    type = Text()
    name = "json_text"


class json_cents(_JsonField):
    inherit_cache = False
    type = BigInteger()
    name = "json_cents"


def _doc(element: _JsonField, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(json_text, "sqlite")
def _text_sqlite(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _doc(element, compiler, **kw), f"'$.\"{element.key}\"'"
    value = f"json_extract({doc}, {path})"
    return (
        f"CASE WHEN json_type({doc}, {path}) = 'text' THEN {value} "
        f"WHEN json_type({doc}, {path}) = 'integer' "
        f"AND {value} BETWEEN -{_MAX_INTEGER} AND {_MAX_INTEGER} "
        f"THEN CAST({value} AS TEXT) END"
    )


@compiles(json_text, "postgresql")
def _text_postgresql(element: json_text, compiler: SQLCompiler, **kw: Any) -> str:
    doc, key = _doc(element, compiler, **kw), f"'{element.key}'"
    # jsonb keeps 5 and 5.0 apart ('5' and '5.0'), as SQLite's integer and real do.
    return (
        f"CASE WHEN jsonb_typeof({doc} -> {key}) = 'string' "
        f"OR (jsonb_typeof({doc} -> {key}) = 'number' "
        f"AND ({doc} ->> {key}) ~ '^-?[0-9]{{1,18}}$') "
        f"THEN {doc} ->> {key} END"
    )


@compiles(json_cents, "sqlite")
def _cents_sqlite(element: json_cents, compiler: SQLCompiler, **kw: Any) -> str:
    doc, path = _doc(element, compiler, **kw), f"'$.\"{element.key}\"'"
    value = f"json_extract({doc}, {path})"
    return (
        f"CASE WHEN json_type({doc}, {path}) IN ('integer', 'real') "
        f"AND {value} BETWEEN -{_MAX_AMOUNT} AND {_MAX_AMOUNT} "
        f"THEN CAST(ROUND({value} * 100) AS INTEGER) END"
    )


@compiles(json_cents, "postgresql")
def _cents_postgresql(element: json_cents, compiler: SQLCompiler, **kw: Any) -> str:
    doc, key = _doc(element, compiler, **kw), f"'{element.key}'"
    # CASE evaluates the cast only for numbers, so text never reaches ::numeric.
    value = f"({doc} ->> {key})::numeric"
    return (
        f"CASE WHEN jsonb_typeof({doc} -> {key}) = 'number' THEN "
        f"CASE WHEN {value} BETWEEN -{_MAX_AMOUNT} AND {_MAX_AMOUNT} "
        f"THEN CAST(ROUND({value} * 100) AS BIGINT) END END"
    )


__all__ = ["check_json_key", "epoch_seconds", "json_cents", "json_text", "utc_day"]
