"""An import file's columns: the documented names, `--map old=new`, and spread columns.

Customers: `external_id` (or `id`), `email`, `phone`, `first_name`, `last_name`,
`locale`, `timezone`, `country`, and attributes as `attr.<name>` columns or an
`attributes` column holding a JSON object. Consent: `customer_id` (or `external_id`,
`id`), `channel`, `status`, `source`, `at`, `ip`, `system`, `wording`, `purpose`.
Events: the webhook event's fields (`external_id`, `type`, `customer_id`,
`occurred_at`, `data` as JSON or `data.<name>` columns, `customer` as JSON).

An empty cell is a value not given (it leaves the stored one as it is). Columns whose
name starts with `_` are ignored: the rejects file's `_line`, `_field` and `_reason`,
so that a corrected rejects file imports as it is. What the values must be is the
records' business (`import_records`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Literal

from journeys.errors import JourneyflowError, did_you_mean
from journeys.store.events import PROFILE_FIELDS

Kind = Literal["customers", "consent", "events"]

_ALIASES: dict[Kind, dict[str, str]] = {
    "customers": {"id": "external_id", "customer_id": "external_id"},
    "consent": {"id": "customer_id", "external_id": "customer_id", "customer": "customer_id"},
    "events": {"id": "external_id"},
}
_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "customers": ("external_id", *PROFILE_FIELDS, "attributes"),
    "consent": (
        "customer_id",
        "confirmed",
        "channel",
        "status",
        "source",
        "at",
        "ip",
        "system",
        "wording",
        "purpose",
    ),
    "events": ("external_id", "type", "customer_id", "occurred_at", "data", "customer", "source"),
}
# Columns that spread over many: `attr.segment` is attributes["segment"].
_SPREAD: dict[Kind, tuple[str, str] | None] = {
    "customers": ("attr.", "attributes"),
    "consent": None,
    "events": ("data.", "data"),
}
# Cells that hold JSON in a CSV file.
_JSON_COLUMNS = frozenset({"attributes", "data", "customer"})


class ColumnError(JourneyflowError):
    """A column name or a `--map` that cannot be used; names it and the valid ones."""


class RowError(ValueError):
    """A row that is not a record: the field and why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


def parse_map(pairs: Iterable[str]) -> dict[str, str]:
    """`["Kundennummer=external_id", …]` as {file's name: documented name}."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        old, sep, new = pair.partition("=")
        if not sep or not old.strip() or not new.strip():
            raise ColumnError(f"--map '{pair}': expected OLD=NEW, e.g. Kundennummer=external_id")
        mapping[old.strip()] = new.strip()
    return mapping


class Columns:
    """How one kind of import reads a file's column names."""

    def __init__(self, kind: Kind, mapping: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.mapping = dict(mapping or {})
        for new in self.mapping.values():
            if self._known(new) is None:
                raise ColumnError(f"--map to '{new}': {self._unknown(new)}")
        self._cache: dict[str, str | None] = {}

    def _known(self, name: str) -> str | None:
        name = _ALIASES[self.kind].get(name, name)
        spread = _SPREAD[self.kind]
        if name in _COLUMNS[self.kind] or (spread and name.startswith(spread[0])):
            return name
        return None

    def _unknown(self, name: str) -> str:
        spread = _SPREAD[self.kind]
        valid = [*_COLUMNS[self.kind], *([f"{spread[0]}<name>"] if spread else [])]
        return f"not a column of a {self.kind} import{did_you_mean(name, valid)}"

    def name(self, column: str) -> str | None:
        """The documented name of a file's column; None for an ignored `_` column."""
        found = self._cache.get(column, "")
        if found != "":
            return found
        if column.startswith("_"):
            result: str | None = None
        else:
            result = self._known(self.mapping.get(column, column))
            if result is None:
                raise RowError(column, self._unknown(column))
        if len(self._cache) < 1000:  # JSON lines may name anything
            self._cache[column] = result
        return result

    def check_header(self, header: Iterable[str], where: str) -> None:
        """A CSV header's unknown column is a problem of the whole file."""
        for column in header:
            try:
                self.name(column)
            except RowError as exc:
                raise ColumnError(
                    f"{where}: column '{column}' is {exc.reason} "
                    f"(--map '{column}=NAME' reads it as one of them; "
                    "columns named _… are ignored)"
                ) from None

    def fields(self, values: Mapping[str, Any], *, text: bool) -> dict[str, Any]:
        """A row's values under their documented names, spread columns gathered.

        `text`: the values are CSV cells (empty means not given; JSON columns parsed)."""
        out: dict[str, Any] = {}
        for column, value in values.items():
            name = self.name(column)
            if name is not None and not (text and value == ""):
                self._put(out, column, name, value, text=text)
        return out

    def cells(self, header: Sequence[str]) -> Callable[[Sequence[str]], dict[str, Any]]:
        """`fields` of a CSV file's rows (cells in the order of `header`), the names
        looked up once for the file rather than once per cell."""
        plain: list[tuple[int, str]] = []  # (cell, name) of columns taken as they are
        other: list[tuple[int, str, str]] = []  # (cell, column, name): JSON or spread
        spread = _SPREAD[self.kind]
        direct: list[str] = []  # the names not spread
        for index, column in enumerate(header):
            name = self.name(column)
            if name is None:
                continue
            if spread and name.startswith(spread[0]):
                other.append((index, column, name))
                continue
            direct.append(name)
            if name in _JSON_COLUMNS:
                other.append((index, column, name))
            else:
                plain.append((index, name))
        spreads = spread is not None and len(direct) < len(other) + len(plain)
        if len(set(direct)) < len(direct) or (spreads and spread and spread[1] in direct):
            # Two columns for one field: their order decides, cell by cell as `fields`.
            return lambda cells: self.fields(dict(zip(header, cells, strict=True)), text=True)

        def fields(cells: Sequence[str]) -> dict[str, Any]:
            out = {name: value for index, name in plain if (value := cells[index])}
            for index, column, name in other:
                if value := cells[index]:
                    self._put(out, column, name, value, text=True)
            return out

        return fields

    def _put(self, out: dict[str, Any], column: str, name: str, value: Any, *, text: bool) -> None:
        spread = _SPREAD[self.kind]
        if text and name in _JSON_COLUMNS:
            value = _json_cell(column, value)
        if spread and name.startswith(spread[0]):
            key = name[len(spread[0]) :]
            if not key:
                raise RowError(column, f"'{spread[0]}' needs a name after the dot")
            out.setdefault(spread[1], {})
            if not isinstance(out[spread[1]], dict):
                raise RowError(column, f"'{spread[1]}' is not an object")
            out[spread[1]][key] = value
        elif name in out and isinstance(out[name], dict) and isinstance(value, dict):
            out[name] = {**value, **out[name]}
        elif name in out:
            raise RowError(column, f"'{name}' given twice")
        else:
            out[name] = value


def _json_cell(column: str, value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise RowError(column, f"not JSON: {exc}") from None
