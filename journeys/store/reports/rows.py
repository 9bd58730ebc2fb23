"""The key every report row carries: journey, version and segment (all None in a row
about the whole store, segment None when the report is not split)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from .period import SliceKey


class SliceRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    journey: str | None
    version: int | None
    segment: str | None = None


def slice_fields(key: SliceKey) -> dict[str, Any]:
    return {"journey": key[0], "version": key[1], "segment": key[2]}


def slice_order(key: SliceKey) -> tuple[bool, str, int, bool, str]:
    """Rows about the whole store first, then by journey and version; customers without
    a locale or country last. (NULL sorts differently in SQLite and PostgreSQL, so
    rows are ordered here, not in SQL.)"""
    return (key[0] is not None, key[0] or "", key[1] or 0, key[2] is None, key[2] or "")


def row_order(row: SliceRow) -> tuple[bool, str, int, bool, str]:
    return slice_order((row.journey, row.version, row.segment))
