"""Column types shared by every table: UTC timestamps, JSON documents, 64-bit ids."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from ..errors import StoreError

# SQLite's INTEGER PRIMARY KEY is the rowid (and autoincrements); BIGINT would not be.
BigId = BigInteger().with_variant(Integer(), "sqlite")
# SQL NULL (not JSON null) for None, so "IS NULL" means what it says.
JSONDoc = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def _to_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise StoreError(f"naive datetime {value.isoformat()}: the store keeps time zone-aware UTC")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


# A batch writes the same few instants many times (its `now`, each event's time in
# history, outbox and enrollment rows): formatting each once is measurably cheaper.
_formatted: dict[datetime, str] = {}


def _sqlite_bind(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = _formatted.get(value)
    if text is None:
        if len(_formatted) >= 8192:
            _formatted.clear()
        # Fixed width "YYYY-MM-DD HH:MM:SS.ffffff" (SQLAlchemy's own SQLite format), so
        # that text comparison in SQL orders like time does.
        text = _formatted[value] = _to_utc(value).isoformat(" ", "microseconds")[:26]
    return text


def _sqlite_result(value: str | None) -> datetime | None:
    if value is None:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always reads back time zone-aware, SQLite included.

    On SQLite the conversion is done here in one step (isoformat/fromisoformat) rather
    than by SQLAlchemy's generic string format: timestamps are on the hot path.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_bind
        return super().bind_processor(dialect)

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], Any] | None:
        if dialect.name == "sqlite":
            return _sqlite_result
        return super().result_processor(dialect, coltype)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else _to_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Default for created_at/updated_at columns when rows are made through the ORM."""
    return datetime.now(UTC)
