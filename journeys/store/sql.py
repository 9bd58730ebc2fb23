"""Dialect-specific statements the store needs on both SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ARRAY, Connection, Table, Text, bindparam, text
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

# Namespace of the store's PostgreSQL advisory locks (pg_advisory_xact_lock(int, int)).
LOCK_NAMESPACE = 19014

# Keeps every IN list and multi-row statement well under both databases' parameter limits.
CHUNK = 900


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def connection_of(db: Any) -> Connection:
    """The connection of a Session, or the Connection itself."""
    return db if isinstance(db, Connection) else db.connection()


def insert(conn: Connection, table: Table) -> Any:
    """INSERT with ON CONFLICT support for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


_LOCK_WAIT = text(
    "SELECT pg_advisory_xact_lock(:ns, k) FROM "
    "(SELECT DISTINCT hashtext(x) AS k FROM unnest(:ids) AS x ORDER BY k) AS keys"
).bindparams(bindparam("ids", type_=ARRAY(Text)))

_LOCK_TRY = text(
    "SELECT x FROM unnest(:ids) AS x WHERE pg_try_advisory_xact_lock(:ns, hashtext(x))"
).bindparams(bindparam("ids", type_=ARRAY(Text)))


def lock_customers(conn: Connection, external_ids: Iterable[str], *, wait: bool = True) -> set[str]:
    """Serialise writers per customer until the transaction ends; returns the ids locked.

    Every writer of a customer's enrollments takes this lock first, so two batches
    never decide on the same customer's state at once. On PostgreSQL these are
    transaction-level advisory locks, taken in one global order (no deadlocks);
    `wait=False` skips customers another transaction holds (the timer sweep, which
    will find them again). On SQLite, `BEGIN IMMEDIATE` has already serialised writers.
    """
    ids = sorted(set(external_ids))
    if conn.dialect.name != "postgresql" or not ids:
        return set(ids)
    if wait:
        conn.execute(_LOCK_WAIT, {"ns": LOCK_NAMESPACE, "ids": ids})
        return set(ids)
    return {row[0] for row in conn.execute(_LOCK_TRY, {"ns": LOCK_NAMESPACE, "ids": ids})}
