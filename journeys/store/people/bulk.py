"""Many rows through the database driver: INSERT and UPDATE by executemany, SELECT … IN.

SQLAlchemy Core compiles a statement and turns each row's dict into the driver's
parameters; for a bulk import of plain rows that bookkeeping costs more than the
database's own work. A `BulkWrite` is the statement's text for the connection's
dialect (made once per dialect) and the columns' own bind processors, SQLAlchemy's,
so that a timestamp or a JSON document is sent exactly as Core sends it. Rows are
tuples in the columns' order; one `executemany` per call, in the caller's transaction.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

from ..sql import chunks

Processors = list[tuple[int, Callable[[Any], Any]]]


class BulkWrite:
    """`INSERT INTO table (columns)`, or with `key`, `UPDATE table SET columns WHERE key`
    (the key's value last in each row)."""

    def __init__(self, table: Table, columns: Sequence[str], *, key: str | None = None) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.key = key
        # Per dialect object: a JSON processor carries its engine's serializer.
        self._made: weakref.WeakKeyDictionary[Dialect, tuple[str, Processors]] = (
            weakref.WeakKeyDictionary()
        )

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        sql, processors = self._for(conn.dialect)
        if processors:
            rows = [_processed(row, processors) for row in rows]
        conn.exec_driver_sql(sql, list(rows))

    def _for(self, dialect: Dialect) -> tuple[str, Processors]:
        made = self._made.get(dialect)
        if made is None:
            made = self._made[dialect] = (self._sql(dialect), self._processors(dialect))
        return made

    def _sql(self, dialect: Dialect) -> str:
        mark = _mark(dialect)
        quote = dialect.identifier_preparer.quote
        table = quote(self.table.name)
        names = [quote(name) for name in self.columns]
        if self.key is None:
            marks = ", ".join(mark for _ in names)
            return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})"
        sets = ", ".join(f"{name} = {mark}" for name in names)
        return f"UPDATE {table} SET {sets} WHERE {quote(self.key)} = {mark}"

    def _processors(self, dialect: Dialect) -> Processors:
        found: Processors = []
        names = [*self.columns, *([self.key] if self.key else [])]
        for index, name in enumerate(names):
            column_type = self.table.c[name].type
            process = column_type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                found.append((index, process))
        return found


def _mark(dialect: Dialect) -> str:
    """The driver's positional placeholder."""
    if dialect.paramstyle == "qmark":
        return "?"
    if dialect.paramstyle in ("format", "pyformat"):
        return "%s"
    raise NotImplementedError(f"parameter style {dialect.paramstyle}")


def _processed(row: tuple[Any, ...], processors: Processors) -> tuple[Any, ...]:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)


class BulkRead:
    """`SELECT columns FROM table WHERE key IN (…)` through the driver, `CHUNK` keys a
    statement, the values through the columns' result processors; `lock` adds FOR
    UPDATE where the database has it (SQLite's writers are serialised already)."""

    def __init__(
        self, table: Table, columns: Sequence[str], key: str, *, lock: bool = False
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.key = key
        self.lock = lock
        self._made: weakref.WeakKeyDictionary[Dialect, tuple[dict[int, str], Processors]] = (
            weakref.WeakKeyDictionary()
        )

    def rows(self, conn: Connection, keys: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        dialect = conn.dialect
        made = self._made.get(dialect)
        if made is None:
            made = self._made[dialect] = ({}, self._processors(dialect))
        statements, processors = made
        for part in chunks(keys):
            sql = statements.get(len(part))
            if sql is None:
                sql = statements[len(part)] = self._sql(dialect, len(part))
            found = conn.exec_driver_sql(sql, tuple(part)).fetchall()
            for row in found:
                yield _processed(tuple(row), processors) if processors else tuple(row)

    def _sql(self, dialect: Dialect, count: int) -> str:
        quote = dialect.identifier_preparer.quote
        names = ", ".join(quote(name) for name in self.columns)
        marks = ", ".join(_mark(dialect) for _ in range(count))
        where = f"{quote(self.key)} IN ({marks})"
        lock = " FOR UPDATE" if self.lock and dialect.name == "postgresql" else ""
        return f"SELECT {names} FROM {quote(self.table.name)} WHERE {where}{lock}"

    def _processors(self, dialect: Dialect) -> Processors:
        found: Processors = []
        for index, name in enumerate(self.columns):
            column_type = self.table.c[name].type.dialect_impl(dialect)
            process = column_type.result_processor(dialect, None)
            if process is not None:
                found.append((index, process))
        return found


__all__ = ["BulkRead", "BulkWrite"]
