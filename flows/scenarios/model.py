"""The scenario file: a journey's tests as a marketer writes them.

One file per journey, `journeys/tests/<journey>.yaml` (see `journeys.config.scenarios_dir`):

```yaml
journey: customer_lifecycle
scenarios:
  - name: review request with a code three days after delivery
    customer: {locale: en, consent: {email: subscribed}}
    events:
      - {at: 0s, type: order.completed, data: {total: 80}}
      - {at: 1d, type: order.delivered}
    expect:
      stages:
        - {at: 4d, stage: evaluation}
      sent:
        - {email: thank_you, at: 0s}
        - {email: getting_started, at: 2d}
        - {email: review_request, at: 4d, promo_code: true}
```

Times are a duration since the scenario's `start` ('0s', '3d', '1d12h') or a date and
time ('2026-03-05 10:00'; without a zone, in the customer's time zone). One pydantic
model defines the format: the loader, its error messages and the JSON Schema for
editors (`scenario.schema.json`) all derive from it.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    model_validator,
)

from journeys.store.people.profile_rules import ProfileError, parse_profile
from journeys.types import EventType, Key, Locale, TimeZone

from .expectations import (
    DeferredExpect,
    Expectations,
    MessageRef,
    NotSentExpect,
    PromoExpect,
    SentExpect,
    StageExpect,
)
from .times import (
    DEFAULT_RUN_ON,
    DEFAULT_START,
    DEFAULT_WITHIN,
    FIRST_YEAR,
    LAST_YEAR,
    Moment,
    StartTime,
    parse_moment,
)

__all__ = [
    "DEFAULT_RUN_ON",
    "DEFAULT_START",
    "DEFAULT_WITHIN",
    "FIRST_YEAR",
    "LAST_YEAR",
    "ConsentStep",
    "CustomerSpec",
    "DeferredExpect",
    "EventStep",
    "Expectations",
    "MessageRef",
    "Moment",
    "NotSentExpect",
    "ProfileStep",
    "PromoExpect",
    "Scenario",
    "ScenarioFile",
    "SentExpect",
    "StageExpect",
    "Step",
    "parse_moment",
]

ConsentStatus = Literal["subscribed", "pending", "unsubscribed", "suppressed"]
ConsentOrNone = Literal["subscribed", "pending", "unsubscribed", "suppressed", "none"]
ConsentChannel = Literal["email", "sms"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_profile(fields: dict[str, Any]) -> None:
    try:
        parse_profile(fields)
    except ProfileError as exc:
        raise ValueError(str(exc)) from None


def _check_storable(name: str, value: Any) -> None:
    """What the receiver refuses (1e400, a number of 70 digits, NUL, deep nesting), a
    scenario may not send either: the store could not keep it."""
    from channels.inbound.errors import BadRequest
    from channels.inbound.json_body import load_json

    try:
        load_json(json.dumps(value).encode())
    except BadRequest as exc:
        reason = exc.reason.removeprefix("the body is ").removeprefix("the JSON ")
        raise ValueError(f"{name}: no store keeps this: {reason}") from None
    except RecursionError:
        raise ValueError(f"{name}: nested too deeply") from None


# --- the customer ---------------------------------------------------------------------------


class CustomerSpec(_Model):
    """Who the scenario is about. Every field has a default: a German customer, Kim, who
    has subscribed to email and SMS."""

    id: str = Field(
        default="customer", min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]+$"
    )
    email: str | None = "kim@example.com"
    phone: str | None = Field(default="+4915123456789", description="E.164, or national form")
    first_name: str | None = "Kim"
    last_name: str | None = None
    locale: Locale | None = Field(default=None, description="default: the journey's locale")
    timezone: TimeZone | None = Field(default=None, description="default: the journey's")
    country: str | None = "DE"
    attributes: dict[str, JsonValue] = Field(default_factory=dict)
    consent: dict[ConsentChannel, ConsentOrNone] = Field(
        default_factory=dict,
        description="Marketing consent per channel; default subscribed on both. 'none': "
        "never asked.",
    )

    @model_validator(mode="after")
    def _valid_profile(self) -> CustomerSpec:
        _check_storable("attributes", self.attributes)
        _check_profile(self.profile())
        return self

    def profile(self) -> dict[str, Any]:
        """The fields `journeys.store.people.profiles.upsert_customer` takes."""
        names = ("email", "phone", "first_name", "last_name", "locale", "timezone", "country")
        fields: dict[str, Any] = {n: getattr(self, n) for n in names}
        fields["attributes"] = dict(self.attributes)
        return fields

    def consent_in_force(self) -> dict[str, str]:
        """The consent to record at the start, per channel ('none': no record)."""
        given = {"email": "subscribed", "sms": "subscribed", **self.consent}
        return {channel: status for channel, status in given.items() if status != "none"}


# --- what happens ---------------------------------------------------------------------------


class EventStep(_Model):
    """An event, as a shop or CRM would send it."""

    at: Moment
    type: EventType = Field(max_length=128)
    data: dict[str, JsonValue] = Field(default_factory=dict)
    source: str = Field(default="scenario", pattern=r"^[a-z][a-z0-9_.-]*$", max_length=64)
    id: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        pattern=r"^[^\x00-\x1f\x7f]+$",
        description="default: numbered in order",
    )
    customer: dict[str, JsonValue] | None = Field(
        default=None, description="Profile fields the event carries (email, locale, attributes)"
    )

    @model_validator(mode="after")
    def _valid_profile(self) -> EventStep:
        _check_storable("data", self.data)
        if self.customer is not None:
            _check_storable("customer", self.customer)
            _check_profile(dict(self.customer))
        return self


class ConsentStep(_Model):
    """The customer's consent changes (a confirmation link, an unsubscribe, a bounce)."""

    at: Moment
    consent: dict[ConsentChannel, ConsentStatus] = Field(min_length=1)


class ProfileStep(_Model):
    """The customer's profile changes (the CRM updates it)."""

    at: Moment
    customer: dict[str, JsonValue] = Field(min_length=1)

    @model_validator(mode="after")
    def _valid_profile(self) -> ProfileStep:
        _check_storable("customer", self.customer)
        _check_profile(dict(self.customer))
        return self


STEP_TAGS = {"type": "event", "consent": "consent", "customer": "profile"}


def _step_tag(value: Any) -> str | None:
    if isinstance(value, dict):
        return next((tag for key, tag in STEP_TAGS.items() if key in value), None)
    kinds: dict[type[BaseModel], str] = {
        EventStep: "event",
        ConsentStep: "consent",
        ProfileStep: "profile",
    }
    return kinds.get(type(value))


Step = Annotated[
    Annotated[EventStep, Tag("event")]
    | Annotated[ConsentStep, Tag("consent")]
    | Annotated[ProfileStep, Tag("profile")],
    Discriminator(
        _step_tag,
        custom_error_type="step_kind",
        custom_error_message="a step needs one of the keys: type (an event), consent, customer",
    ),
]


class Scenario(_Model):
    name: str = Field(min_length=1, max_length=200, pattern=r"^[^\n\r\t]+$")
    description: str = ""
    start: StartTime | None = Field(default=None, description="default: 2026-03-02 09:00")
    customer: CustomerSpec = Field(default_factory=CustomerSpec)
    events: list[Step] = Field(default_factory=list, description="What happens, and when")
    until: Moment | None = Field(
        default=None, description="Run until then; default: 30 days after the last time named"
    )
    expect: Expectations = Field(default_factory=Expectations)


class ScenarioFile(_Model):
    """Scenario tests of one journey."""

    journey: Key = Field(description="The journey under test")
    scenarios: list[Scenario] = Field(min_length=1, description="names unique in the file")
