"""Multi-row INSERT … RETURNING through the driver, optionally skipping conflicting rows.

The write path inserts a batch's enrollments, actions and inbox events a few times per
transaction, and needs back what landed. Core compiles a dialect's `INSERT … ON
CONFLICT` anew on every execution (such a statement has no cache key) and turns every
row into parameters through its own bookkeeping; at the engine's rate of small batches
that costs more than the database's work. A `BulkInsert` sends the same SQL (one
statement per page of rows, `VALUES (…), (…)`, as Core's "insertmanyvalues" does)
with the values through the columns' own bind processors, like `bulk.BulkWrite`.
SQLite (3.35 and later) and PostgreSQL read the same text.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Table
from sqlalchemy.engine import Dialect

Processors = list[tuple[int, Callable[[Any], Any]]]

# Parameters per statement: under SQLite's limit (32,766) and PostgreSQL's (65,535).
MAX_PARAMETERS = 30_000


class BulkInsert:
    """`INSERT INTO table (columns) VALUES … [ON CONFLICT (conflict) DO NOTHING]
    RETURNING returning`; rows are tuples in the columns' order. `conflict=()` skips a
    row that collides with any unique constraint."""

    def __init__(
        self,
        table: Table,
        columns: Sequence[str],
        *,
        returning: Sequence[str],
        conflict: Sequence[str] | None = None,
    ) -> None:
        self.table = table
        self.columns = tuple(columns)
        self.returning = tuple(returning)
        self.conflict = None if conflict is None else tuple(conflict)
        self.page = max(1, MAX_PARAMETERS // len(self.columns))
        # Per dialect object: a JSON processor carries its engine's serializer.
        self._made: weakref.WeakKeyDictionary[
            Dialect, tuple[str, str, str, Processors, Processors]
        ] = weakref.WeakKeyDictionary()

    def run(self, conn: Connection, rows: Sequence[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """Insert `rows` in the caller's transaction; the returned columns of those that
        landed, in no particular order."""
        if not rows:
            return []
        head, group, tail, binds, results = self._for(conn.dialect)
        found: list[tuple[Any, ...]] = []
        for start in range(0, len(rows), self.page):
            part = rows[start : start + self.page]
            values: list[Any] = []
            for row in part:
                if binds:
                    row = _processed(row, binds)
                values.extend(row)
            sql = f"{head}{', '.join([group] * len(part))}{tail}"
            for got in conn.exec_driver_sql(sql, tuple(values)).fetchall():
                found.append(_processed(tuple(got), results) if results else tuple(got))
        return found

    def _for(self, dialect: Dialect) -> tuple[str, str, str, Processors, Processors]:
        made = self._made.get(dialect)
        if made is None:
            made = self._made[dialect] = self._make(dialect)
        return made

    def _make(self, dialect: Dialect) -> tuple[str, str, str, Processors, Processors]:
        quote = dialect.identifier_preparer.quote
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise NotImplementedError(f"parameter style {dialect.paramstyle}")
        names = ", ".join(quote(name) for name in self.columns)
        head = f"INSERT INTO {quote(self.table.name)} ({names}) VALUES "
        group = f"({', '.join(mark for _ in self.columns)})"
        tail = ""
        if self.conflict is not None:
            target = ", ".join(quote(name) for name in self.conflict)
            tail += f" ON CONFLICT ({target}) DO NOTHING" if target else " ON CONFLICT DO NOTHING"
        tail += f" RETURNING {', '.join(quote(name) for name in self.returning)}"
        binds: Processors = []
        for index, name in enumerate(self.columns):
            process = self.table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            if process is not None:
                binds.append((index, process))
        results: Processors = []
        for index, name in enumerate(self.returning):
            impl = self.table.c[name].type.dialect_impl(dialect)
            process = impl.result_processor(dialect, None)
            if process is not None:
                results.append((index, process))
        return head, group, tail, binds, results


def _processed(row: tuple[Any, ...], processors: Processors) -> tuple[Any, ...]:
    values = list(row)
    for index, process in processors:
        values[index] = process(values[index])
    return tuple(values)
