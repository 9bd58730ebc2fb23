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

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    WithJsonSchema,
    model_validator,
)

from journeys.model import TemplateName
from journeys.store.people import ProfileError, parse_profile
from journeys.types import Duration, EventType, Key, Locale, TimeZone, parse_duration

# A Monday morning, outside the usual quiet hours: where a scenario gives no `start`.
DEFAULT_START = datetime(2026, 3, 2, 9, 0)
# How long a scenario runs on after the last time it names, unless it says `until`.
DEFAULT_RUN_ON = timedelta(days=30)
DEFAULT_WITHIN = timedelta(hours=1)
# Dates a store keeps and a scenario plus a hundred years of durations cannot overflow.
FIRST_YEAR, LAST_YEAR = 1970, 2999

_MOMENT_HINT = (
    "write a duration since the scenario's start such as '0s', '3d' or '1d12h', "
    "or a date and time such as '2026-03-05 10:00'"
)


def parse_moment(value: Any) -> timedelta | datetime:
    """'3d' (since the start), '2026-03-05 10:00' or '2026-03-05T10:00:00+01:00'."""
    if isinstance(value, timedelta | datetime):
        return value
    if value == 0 and not isinstance(value, bool):
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a time; {_MOMENT_HINT}")
    text = value.strip().removeprefix("+")
    if text == "0":
        return timedelta(0)
    try:
        return parse_duration(text)
    except ValueError as exc:
        if "longer than" in str(exc):
            raise
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise ValueError(f"{shown!r} is not a time; {_MOMENT_HINT}") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"{value!r}: a date lies in the years {FIRST_YEAR} to {LAST_YEAR}")
    return moment


def _absolute(value: Any) -> Any:
    moment = parse_moment(value)
    if isinstance(moment, timedelta):
        raise ValueError(f"{value!r}: the start is a date and time, e.g. '2026-03-02 09:00'")
    return moment


Moment = Annotated[
    timedelta | datetime,
    BeforeValidator(parse_moment),
    WithJsonSchema(
        {
            "type": ["string", "integer"],
            "description": "A duration since the scenario's start ('0s', '3d', '1d12h') or a "
            "date and time ('2026-03-05 10:00', in the customer's time zone unless it has one).",
            "examples": ["0s", "3d", "1d12h", "2026-03-05 10:00"],
        }
    ),
]
StartTime = Annotated[
    datetime,
    BeforeValidator(_absolute),
    WithJsonSchema(
        {
            "type": "string",
            "description": "Date and time the scenario starts at; without a zone, in the "
            "customer's time zone (else the journey's).",
            "examples": ["2026-03-02 09:00", "2026-03-02T22:30:00+01:00"],
        }
    ),
]
ConsentStatus = Literal["subscribed", "pending", "unsubscribed", "suppressed"]
ConsentOrNone = Literal["subscribed", "pending", "unsubscribed", "suppressed", "none"]
ConsentChannel = Literal["email", "sms"]
Within = Annotated[
    Duration,
    Field(description="How far the real time may lie from `at` (default 1h)."),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_profile(fields: dict[str, Any]) -> None:
    try:
        parse_profile(fields)
    except ProfileError as exc:
        raise ValueError(str(exc)) from None


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
        _check_profile(self.profile())
        return self

    def profile(self) -> dict[str, Any]:
        """The fields `journeys.store.people.upsert_customer` takes."""
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
        if self.customer is not None:
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


# --- what should come of it -----------------------------------------------------------------


class MessageRef(_Model):
    """A message of the journey: `email: NAME`, `sms: NAME` or `webhook: ENDPOINT`."""

    email: TemplateName | None = None
    sms: TemplateName | None = None
    webhook: str | None = Field(default=None, min_length=1, max_length=300)
    variant: Key | None = Field(default=None, description="the A/B variant")
    stage: Key | None = Field(default=None, description="the stage whose action it is")

    @model_validator(mode="after")
    def _one_channel(self) -> MessageRef:
        given = [k for k in ("email", "sms", "webhook") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("name the message with exactly one of: email, sms, webhook")
        return self

    @property
    def channel(self) -> str:
        return next(k for k in ("email", "sms", "webhook") if getattr(self, k) is not None)

    @property
    def name(self) -> str:
        return str(getattr(self, self.channel))


class SentExpect(MessageRef):
    """A message that is sent (`at` about when, if given)."""

    at: Moment | None = None
    within: Within = DEFAULT_WITHIN
    promo_code: bool | None = Field(default=None, description="it carries a promo code (or not)")
    contains: str | None = Field(
        default=None, min_length=1, description="text its subject or body contains"
    )


class NotSentExpect(MessageRef):
    """A message that is never sent (`because`: text of the reason it was held back)."""

    because: str | None = Field(
        default=None,
        min_length=1,
        description="e.g. 'no consent', 'holdout', 'no phone number': the message was due "
        "and the reason it was not sent contains this text",
    )


def _rule_name(value: Any) -> Any:
    return value.replace("_", " ") if isinstance(value, str) else value


class DeferredExpect(MessageRef):
    """A message the send rules held back for a while."""

    by: Annotated[Literal["quiet hours", "frequency cap"], BeforeValidator(_rule_name)]
    until: Moment | None = Field(default=None, description="about when it was let go")
    within: Within = DEFAULT_WITHIN


class StageExpect(_Model):
    """Where the customer is at a time (after everything that happens at that time)."""

    at: Moment
    stage: Key | None = Field(description="null: not in the journey")
    status: Literal["active", "completed", "exited", "goal"] | None = None


class PromoExpect(_Model):
    """A promo code issued to the customer."""

    campaign: Key | None = None
    discount: str | None = None
    prefix: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,12}$")
    expires: Moment | None = Field(default=None, description="about when it expires")
    within: Within = DEFAULT_WITHIN


class Expectations(_Model):
    """What the scenario checks. A list left out is not checked; `sent: []` means none."""

    stages: list[StageExpect] = Field(default_factory=list)
    sent: list[SentExpect] | None = Field(
        default=None, description="Every message sent, in the order they go out"
    )
    not_sent: list[NotSentExpect] = Field(default_factory=list)
    deferred: list[DeferredExpect] | None = Field(
        default=None, description="Every message deferred by quiet hours or a frequency cap"
    )
    promo_codes: list[PromoExpect] | None = Field(
        default=None, description="Every promo code issued to the customer"
    )


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
