"""The stores of a simulation's shards made one: their rows copied into the first.

Each shard's store numbers its rows from 1. Copied into the first store, every row's
id moves past the ids already there (the table's largest id), and so does every
column that refers to another table's id, by that table's shift: a shard's enrollment
keeps its customer, its actions their enrollment. The journeys' versions are the same
in every shard (each registered the plan's journeys) and are not copied again; the
rows refer to them by journey and version, not by id. What is unique across shards
stays unique: customers' and events' ids name the customer, action keys hash it, and
promo codes are drawn at random.

One transaction per shard, through SQLite's ATTACH, in SQL: nothing passes through
Python but the statements.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine, Table

from journeys.store.table_base import metadata
from journeys.store.tables import journey_version_t

_SHARED = {journey_version_t.name}


def merge_stores(engine: Engine, paths: Sequence[Path]) -> None:
    """Copy every row of the SQLite stores at `paths` into `engine`'s store."""
    tables = [t for t in metadata.sorted_tables if t.name not in _SHARED]
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for path in paths:
            cursor.execute("ATTACH DATABASE ? AS shard", (str(path),))
            try:
                cursor.execute("BEGIN IMMEDIATE")
                shift = {
                    t.name: cursor.execute(
                        f"SELECT coalesce(max(id), 0) FROM main.{t.name}"
                    ).fetchone()[0]
                    for t in tables
                }
                for table in tables:
                    cursor.execute(_copy(table, shift))
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            finally:
                cursor.execute("DETACH DATABASE shard")
        cursor.close()
    finally:
        raw.close()


def _copy(table: Table, shift: dict[str, int]) -> str:
    names, values = [], []
    refers = {
        fk.parent.name: fk.column.table.name
        for fk in table.foreign_keys
        if fk.column.name == "id" and fk.column.table.name in shift
    }
    for column in table.columns:
        names.append(column.name)
        if column.primary_key:
            values.append(f"{column.name} + {shift[table.name]}")
        elif column.name in refers:
            values.append(f"{column.name} + {shift[refers[column.name]]}")
        else:
            values.append(column.name)
    return (
        f"INSERT INTO main.{table.name} ({', '.join(names)}) "
        f"SELECT {', '.join(values)} FROM shard.{table.name} ORDER BY id"
    )
