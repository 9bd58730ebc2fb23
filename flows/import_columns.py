"""Import rows to records: the documented columns, `--map old=new`, and validation.

Customers: `external_id` (or `id`), `email`, `phone`, `first_name`, `last_name`,
`locale`, `timezone`, `country`, and attributes as `attr.<name>` columns or an
`attributes` column holding a JSON object. Consent: `customer_id` (or `external_id`,
`id`), `channel`, `status`, `source`, `at`, `ip`, `system`, `wording`, `purpose`.
Events: the webhook event's fields (`external_id`, `type`, `customer_id`,
`occurred_at`, `data` as JSON or `data.<name>` columns, `customer` as JSON).

An empty cell is a value not given (it leaves the stored one as it is). Columns whose
name starts with `_` are ignored: the rejects file's `_line`, `_field` and `_reason`,
so that a corrected rejects file imports as it is. The values are validated by the
models the receivers use (`CustomerProfile`, `IncomingEvent`): one set of rules for a
phone number, a time zone or an address, wherever a customer comes from.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from journeys.errors import JourneyflowError, did_you_mean
from journeys.store.events import PROFILE_FIELDS, IncomingEvent, UTCTime
from journeys.store.people import CONSENT_PURPOSES

Kind = Literal["customers", "consent", "events"]
M = TypeVar("M", bound=BaseModel)
IMPORT_SOURCE = "import"

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
        spread = _SPREAD[self.kind]
        for column, value in values.items():
            name = self.name(column)
            if name is None or (text and value == ""):
                continue
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
        return out


def _json_cell(column: str, value: str) -> Any:
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise RowError(column, f"not JSON: {exc}") from None


# --- the records ---------------------------------------------------------------------------


class CustomerRecord(BaseModel):
    """A customer row: its id and the profile fields given; the store checks them by
    the people API's rules (`people.parse_profile`), with what it has stored."""

    model_config = ConfigDict(frozen=True)

    external_id: str
    fields: dict[str, Any]


class ConsentRecord(BaseModel):
    """A consent row: what the customer agreed to (or withdrew), when, and the proof."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    customer_id: str = Field(min_length=1, max_length=255)
    channel: Literal["email", "sms"]
    status: Literal["subscribed", "unsubscribed", "pending"]
    source: str = Field(default=IMPORT_SOURCE, min_length=1, max_length=64)
    at: UTCTime
    ip: str | None = Field(default=None, max_length=45)
    system: str | None = Field(default=None, max_length=128)
    wording: str | None = Field(default=None, max_length=10_000)
    purpose: str = "marketing"
    confirmed: bool = Field(
        default=False, description="The source holds the double opt-in's confirmation"
    )

    @field_validator("customer_id", "channel", "status", "source", mode="before")
    @classmethod
    def _strip(cls, value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        if value not in CONSENT_PURPOSES:
            raise ValueError(f"'{value}'{did_you_mean(value, CONSENT_PURPOSES)}")
        return value

    @field_validator("ip")
    @classmethod
    def _ip(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            raise ValueError(f"'{value}' is not an IPv4 or IPv6 address") from None


def to_customer(fields: dict[str, Any]) -> CustomerRecord:
    external_id = fields.pop("external_id", None)
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str) or not external_id.strip():
        raise RowError("external_id", "missing: every customer needs its id (external_id or id)")
    external_id = external_id.strip()
    return CustomerRecord(external_id=external_id, fields=fields)


def to_consent(fields: dict[str, Any]) -> ConsentRecord:
    at = fields.get("at")
    if isinstance(at, str):
        try:
            parsed = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
        except ValueError:
            raise RowError("at", f"'{at}' is not an ISO time, e.g. 2026-03-01T10:15:00Z") from None
        if parsed.tzinfo is None:
            raise RowError("at", f"'{at}' has no time zone: add Z or an offset such as +01:00")
        fields["at"] = parsed.astimezone(UTC)
    return _validated(ConsentRecord, fields)


def to_event(fields: dict[str, Any]) -> IncomingEvent:
    """An event of the file, from the source `import` under the row's external id."""
    fields.pop("source", None)  # one source, so that a re-run's duplicates are dropped
    return _validated(IncomingEvent, {**fields, "source": IMPORT_SOURCE})


def _validated(model: type[M], fields: dict[str, Any]) -> M:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(map(str, first["loc"]))
        message = str(first["msg"]).removeprefix("Value error, ")
        if not field and "phone number" in message:
            field = "phone"  # normalised in the profile's own validator
        raise RowError(field, message) from None
    except ValueError as exc:  # a validator's own error outside pydantic's wrapping
        raise RowError("", str(exc)) from None
