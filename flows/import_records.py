"""An import row's fields to the record the store writes, by the rules the receivers use.

Customers: the id, and the profile fields checked by the people API's rules
(`check_profile`, i.e. `parse_profile`): one set of rules for a phone number, a time
zone or an address, wherever a customer comes from. Consent: `ConsentRecord`, the
store's `ConsentRow` once checked. Events: the webhook's `IncomingEvent`.

`consent_row` takes the usual row (plain strings) through plain checks that accept
exactly what `ConsentRecord` accepts, and hands everything else to the model, so that
a refused row's error is the model's own; a property test holds both paths to the
same results.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from journeys.errors import did_you_mean
from journeys.store.events import IncomingEvent, UTCTime
from journeys.store.people.import_rows import ConsentRow
from journeys.store.people.profile_check import GivenProfile
from journeys.store.people.profile_rules import CONSENT_PURPOSES

from .import_columns import RowError

M = TypeVar("M", bound=BaseModel)
IMPORT_SOURCE = "import"


class CustomerRecord(NamedTuple):
    """A customer row: its id and the profile fields, as given (the store checks them by
    the people API's rules, with what it has stored) or checked already (`import_check`)."""

    external_id: str
    fields: GivenProfile


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
        return None if value is None else ip_text(value)


@lru_cache(maxsize=4096)  # a file's consent often comes from a few addresses
def ip_text(value: str) -> str:
    """An IP address in its normal form; ValueError names what is not one."""
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
    return CustomerRecord(external_id, fields)


def to_consent(fields: dict[str, Any]) -> ConsentRecord:
    at = fields.get("at")
    if isinstance(at, str):
        fields = {**fields, "at": _aware(at)}
    return _validated(ConsentRecord, fields)


def _aware(at: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(at.strip().replace("Z", "+00:00"))
    except ValueError:
        raise RowError("at", f"'{at}' is not an ISO time, e.g. 2026-03-01T10:15:00Z") from None
    if parsed.tzinfo is None:
        raise RowError("at", f"'{at}' has no time zone: add Z or an offset such as +01:00")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59-01:00: past what a datetime holds in UTC
        raise RowError("at", "the time lies outside the years 1 to 9999 in UTC") from None


def consent_row(fields: dict[str, Any]) -> ConsentRow:
    """The store's row for a consent record: `to_consent`'s checks and result."""
    plain = _plain_consent(fields)
    return plain if plain is not None else row_of(to_consent(fields))


def row_of(record: ConsentRecord) -> ConsentRow:
    proof = tuple(
        (name, value)
        for name in ("purpose", "system", "wording")
        if (value := getattr(record, name)) is not None
    )
    return ConsentRow(
        record.customer_id,
        record.channel,
        record.status,
        record.source,
        record.at,
        record.ip,
        proof,
        record.confirmed,
    )


_CONSENT_FIELDS = frozenset(ConsentRecord.model_fields)
_LIMITS = {"ip": 45, "system": 128, "wording": 10_000}
_CHANNELS = ("email", "sms")
_STATUSES = ("subscribed", "unsubscribed", "pending")
_BOOLEANS = {"true": True, "false": False}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _plain_consent(fields: dict[str, Any]) -> ConsentRow | None:
    """The row when every value is a plainly valid string, else None (the model decides)."""
    if not fields.keys() <= _CONSENT_FIELDS:
        return None
    values = fields.values()
    if any(type(v) is not str for v in values):
        return None  # e.g. JSON numbers or null
    if any(_SURROGATE.search(v) for v in values if not v.isascii()):
        return None  # the model refuses them
    customer_id = fields.get("customer_id", "").strip()
    channel, status = fields.get("channel", "").strip(), fields.get("status", "").strip()
    source = fields.get("source", IMPORT_SOURCE).strip()
    if not (0 < len(customer_id) <= 255 and 0 < len(source) <= 64):
        return None
    if channel not in _CHANNELS or status not in _STATUSES:
        return None
    if any(len(fields.get(name, "")) > limit for name, limit in _LIMITS.items()):
        return None
    purpose = fields.get("purpose", "marketing")
    confirmed = _BOOLEANS.get(fields.get("confirmed", "false"))
    if purpose not in CONSENT_PURPOSES or confirmed is None or "at" not in fields:
        return None
    try:
        at = _aware(fields["at"])
        ip = ip_text(fields["ip"]) if "ip" in fields else None
    except ValueError:
        return None
    proof = (("purpose", purpose), *((n, fields[n]) for n in ("system", "wording") if n in fields))
    return ConsentRow(customer_id, channel, status, source, at, ip, proof, confirmed)


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
