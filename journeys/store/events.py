"""The shape of an incoming event: what receivers accept and the sample stream holds.

One JSON object per event (JSON lines in files):

    {"source": "shop", "external_id": "o-1001", "type": "order.completed",
     "customer_id": "c-42", "occurred_at": "2026-03-01T10:15:00Z", "data": {"total": 99.5},
     "customer": {"email": "anna@example.com", "first_name": "Anna", "country": "DE"}}

`customer` is optional: a profile update carried along with the event.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from ..decisions import Event
from ..phone import to_e164
from ..types import EventType, Locale, TimeZone

PROFILE_FIELDS = ("email", "phone", "first_name", "last_name", "locale", "timezone", "country")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is UTC:
        return value
    try:
        return value.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59-01:00 is a valid timestamp but past what a datetime holds in
        # UTC; as a ValueError it is an invalid field, named, not a crash.
        raise ValueError("the time lies outside the years 1 to 9999 in UTC") from None


UTCTime = Annotated[AwareDatetime, AfterValidator(_as_utc)]


class CustomerProfile(BaseModel):
    """Profile fields an event may carry; absent fields leave the stored ones unchanged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(
        default=None, description="E.164, or national form when `country` is given"
    )
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    locale: Locale | None = None
    timezone: TimeZone | None = None
    country: str | None = Field(
        default=None, pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2, e.g. DE"
    )
    attributes: dict[str, Any] = Field(
        default_factory=dict, description="Merged into the customer's attributes"
    )

    @model_validator(mode="after")
    def _normalise(self) -> CustomerProfile:
        # frozen: normalise through object.__setattr__ once, at validation time
        if self.country is not None and self.country != self.country.upper():
            object.__setattr__(self, "country", self.country.upper())
        if self.phone is not None:
            object.__setattr__(self, "phone", to_e164(self.phone, self.country))
        return self

    def fields(self) -> dict[str, Any]:
        """The profile columns this update sets (the ones given)."""
        return {
            name: value for name in PROFILE_FIELDS if (value := getattr(self, name)) is not None
        }


class IncomingEvent(BaseModel):
    """An event as it arrives from a CRM, a shop or a channel, before it is stored."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(
        default="api",
        pattern=r"^[a-z][a-z0-9_.-]*$",
        max_length=64,
        description="Who sent it (shop, crm, twilio, …); ids are unique per source",
    )
    external_id: str = Field(min_length=1, max_length=255)
    type: EventType = Field(max_length=128)
    customer_id: str = Field(min_length=1, max_length=255, description="The customer's external id")
    occurred_at: UTCTime
    data: dict[str, Any] = Field(default_factory=dict)
    customer: CustomerProfile | None = None

    @property
    def key(self) -> tuple[str, str]:
        return self.source, self.external_id

    @property
    def event_id(self) -> str:
        """The id the engine records as the cause of a transition: 'source:external_id'."""
        return f"{self.source}:{self.external_id}"

    def to_engine(self) -> Event:
        return Event(self.event_id, self.type, self.customer_id, self.occurred_at, self.data)
