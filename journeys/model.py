"""The journey language: one pydantic model from which the loader, the validator,
the reference docs and the JSON Schema for editors are all derived.

A journey is a list of stages. A customer enters a stage when one of its
`enter_when` triggers fires (an event, a delay in another stage, or inactivity),
and on entering, the stage's `on_enter` actions are scheduled.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from functools import cached_property
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .model_abtest import AbEventMetric as AbEventMetric  # re-exported with AbTest
from .model_abtest import AbTest
from .model_attach import Attachments
from .model_segment import SegmentTrigger as SegmentTrigger  # re-exported with Trigger
from .types import (
    DatePath,
    Duration,
    EventType,
    FrequencyCap,
    Key,
    Locale,
    LocalTime,
    QuietHours,
    TimeZone,
    Weekday,
)


def _check_condition(source: str) -> str:
    from .conditions import compile_condition
    from .errors import ConditionSyntaxError

    try:
        compile_condition(source)
    except ConditionSyntaxError as exc:
        raise ValueError(f"{exc.reason} at position {exc.position} in '{source}'") from None
    return source


ConditionText = Annotated[
    str,
    AfterValidator(_check_condition),
    Field(
        description="A condition such as \"rating >= 4 and customer.segment in ['b2b', 'vip']\": "
        "comparisons (== != < <= > >= in, not in), and/or/not, dotted paths, literals. "
        "Bare names refer to the triggering event's data.",
    ),
]

TemplateName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$",
        # The name becomes a file path; longer than a file name may be, it is a typo.
        max_length=120,
        description="Template name, looked up as templates/<locale>/<name>.<channel>.j2",
    ),
]

PromoPrefix = Annotated[
    str, Field(pattern=r"^[A-Z0-9]{1,12}$", description="1 to 12 capital letters or digits")
]

Localized = Annotated[
    str | dict[Locale, str],
    Field(description="Text, or a mapping from locale to text, e.g. {de: Kauf, en: Purchase}"),
]


def _as_list(value: Any) -> Any:
    """Let a single trigger or action be written without a list around it."""
    return [value] if isinstance(value, dict) else value


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# --- triggers -----------------------------------------------------------------------------


class EventTrigger(_Model):
    """Enter the stage when an event of this type arrives (and `where` holds)."""

    kind: ClassVar[str] = "event"
    event: EventType
    where: ConditionText | None = None
    from_: list[Key] | None = Field(
        default=None,
        alias="from",
        description="Only from these stages; default: from any other stage.",
    )


class DelayTrigger(_Model):
    """Enter the stage once a customer has spent `after` in one of the `from` stages.
    Its messages render with the event that entered the stage waited in (the cart a
    reminder is about)."""

    kind: ClassVar[str] = "after"
    after: Duration
    from_: list[Key] = Field(alias="from", min_length=1)


class InactivityTrigger(_Model):
    """Enter the stage when a customer in a `from` stage sends no event for a while.
    Its messages render with the event that entered the stage waited in."""

    kind: ClassVar[str] = "no_event_for"
    no_event_for: Duration
    from_: list[Key] = Field(alias="from", min_length=1)


class YearlyTrigger(_Model):
    """Enter the stage every year on a date the customer carries (a birthday, the
    anniversary of the first order), at a local time, from one of the `from` stages."""

    kind: ClassVar[str] = "every_year"
    every_year: Annotated[
        str,
        Field(
            pattern=r"^customer\.[a-z][a-z0-9_]*$",
            max_length=80,
            description="customer.<attribute> holding a date (ISO 8601), e.g. customer.birthday",
        ),
    ]
    at: LocalTime = Field(
        default=time(9, 0), description="Local time of day (the customer's time zone)."
    )
    leap_day: Literal["feb28", "mar1"] = Field(
        default="feb28", description="29 February in a year without one: the day before or after."
    )
    from_: list[Key] = Field(alias="from", min_length=1)


def _check_cron(value: str) -> str:
    from cronsim import CronSim, CronSimError

    try:
        CronSim(value, datetime(2026, 1, 1, tzinfo=UTC))
    except (CronSimError, ValueError, IndexError) as exc:
        raise ValueError(
            f"{value!r} is not a cron schedule such as '0 9 * * MON' "
            f"(minute hour day month weekday): {exc}"
        ) from None
    return value


class ScheduleTrigger(_Model):
    """Enter the stage on a schedule, from one of the `from` stages: e.g. a weekly
    digest to everyone subscribed, every Monday at 09:00."""

    kind: ClassVar[str] = "every"
    every: Annotated[
        str,
        AfterValidator(_check_cron),
        Field(max_length=100, description="A cron schedule: minute hour day month weekday"),
    ]
    timezone: TimeZone | None = Field(
        default=None, description="The schedule's time zone; default: settings.timezone."
    )
    from_: list[Key] = Field(alias="from", min_length=1)


TRIGGER_TAGS = ("event", "after", "no_event_for", "every_year", "every", "segment")


def _tag_of(tags: tuple[str, ...]) -> Any:
    def discriminate(value: Any) -> str | None:
        if isinstance(value, dict):
            return next((t for t in tags if t in value), None)
        return next((t for t in tags if getattr(value, t, None) is not None), None)

    return discriminate


Trigger = Annotated[
    Annotated[EventTrigger, Tag("event")]
    | Annotated[DelayTrigger, Tag("after")]
    | Annotated[InactivityTrigger, Tag("no_event_for")]
    | Annotated[YearlyTrigger, Tag("every_year")]
    | Annotated[ScheduleTrigger, Tag("every")]
    | Annotated[SegmentTrigger, Tag("segment")],
    Discriminator(
        _tag_of(TRIGGER_TAGS),
        custom_error_type="trigger_kind",
        custom_error_message="a trigger needs one of the keys: " + ", ".join(TRIGGER_TAGS),
    ),
]


# --- actions ------------------------------------------------------------------------------


def _prefix_kind(value: Any) -> str:
    return "per_language" if isinstance(value, dict) else "one"


# One prefix or one per language; a mapping is checked as a mapping only, so a mistake in
# it is reported once, not also as "not a string".
PrefixSetting = Annotated[
    Annotated[PromoPrefix, Tag("one")] | Annotated[dict[Locale, PromoPrefix], Tag("per_language")],
    Discriminator(_prefix_kind),
]


class PromoCodeSpec(_Model):
    """A personal, single-use promo code issued with the action."""

    discount: str = Field(
        pattern=r"^(\d{1,2}(\.\d+)?%|\d+(\.\d{1,2})? [A-Z]{3}|free_shipping)$",
        description="'10%', '5 EUR' or 'free_shipping'",
    )
    valid_for: Duration = Field(default="30d", validate_default=True)
    prefix: PrefixSetting | None = Field(
        default=None,
        description="Put before the code: one for every language (DANKE), or one per "
        "language of the journey ({de: DANKE, en: THANKS}): the customer's language decides, "
        "else the journey's default locale",
    )
    campaign: Key | None = None

    @field_validator("prefix")
    @classmethod
    def _some_prefix(cls, value: str | dict[str, str] | None) -> str | dict[str, str] | None:
        if isinstance(value, dict) and not value:
            raise ValueError("a prefix per language needs at least one, e.g. {de: DANKE}")
        return value


class Variant(_Model):
    """One arm of an A/B test; a variant without a template is a holdout group."""

    key: Key
    weight: int = Field(default=1, ge=0)
    template: TemplateName | None = None


class _Action(_Model):
    kind: ClassVar[str]
    key: Key | None = Field(
        default=None, description="Unique within the stage; derived from the action by default."
    )
    after: Duration | None = Field(default=None, description="Delay after entering the stage.")
    when: ConditionText | None = Field(
        default=None,
        description="Only if this holds when the stage is entered "
        "(for a delayed move_to: when the delay is over).",
    )
    cancel_on_leave: bool = Field(
        default=True,
        description="A delayed action is dropped if the customer has left the stage by then.",
    )
    before: Duration | None = Field(
        default=None, description="Act this long before the date `of` names (e.g. 1d)."
    )
    of: DatePath | None = Field(
        default=None,
        description="A date in the data (event.starts_at, customer.birthday): `after` and "
        "`before` count from it instead of from entering the stage; read in the customer's "
        "time zone when it has none of its own.",
    )
    if_past: Literal["skip", "send_now"] = Field(
        default="skip",
        description="When the moment `of` gives has passed on entering the stage: record the "
        "action as skipped with the reason (skip), or act at once (send_now).",
    )
    at: LocalTime | None = Field(
        default=None,
        description="Send window: at this local time of day (the customer's time zone), the "
        "first one from when the action falls due.",
    )
    on: list[Weekday] | None = Field(
        default=None,
        min_length=1,
        description="Send window: only on these weekdays (mon … sun) of the customer's calendar.",
    )

    @model_validator(mode="after")
    def _timing(self) -> _Action:
        if self.before is not None and self.of is None:
            raise ValueError("'before' counts back from a date: name it with 'of' (event.<field>)")
        if self.before is not None and self.after is not None:
            raise ValueError("give 'after' or 'before' the date, not both")
        if self.if_past != "skip" and self.of is None:
            raise ValueError("'if_past' applies to an action timed by a date ('of')")
        return self

    @property
    def timed(self) -> bool:
        """Whether the action waits for something other than a delay after the entry."""
        return self.of is not None or self.at is not None or self.on is not None

    @property
    def action_key(self) -> str:
        return self.key or self._default_key()

    def _default_key(self) -> str:
        return self.kind

    @property
    def templates(self) -> list[str]:
        return []


class _MessageAction(_Action):
    promo_code: PromoCodeSpec | None = None
    variants: list[Variant] | None = Field(default=None, min_length=2)
    ab_test: AbTest | None = Field(
        default=None,
        description="How the variants' A/B test is judged; without it, the defaults "
        "(see AbTest), with the journey's goal as the metric, or clicks without a goal.",
    )
    marketing: bool = Field(
        default=True,
        description="Marketing messages need the customer's consent; "
        "set false for transactional ones (order confirmation).",
    )

    @property
    def template(self) -> str:
        return str(getattr(self, self.kind))

    def _default_key(self) -> str:
        return self.template.replace("/", "_")

    @property
    def templates(self) -> list[str]:
        names = [self.template]
        names += [v.template for v in self.variants or () if v.template]
        return list(dict.fromkeys(names))

    @field_validator("ab_test")
    @classmethod
    def _ab_test_needs_variants(cls, value: AbTest | None, info: ValidationInfo) -> AbTest | None:
        if value is not None and not info.data.get("variants"):
            raise ValueError("an A/B test needs 'variants' (two or more) on the same action")
        return value

    @model_validator(mode="after")
    def _weights_positive(self) -> _MessageAction:
        if self.variants is not None and sum(v.weight for v in self.variants) <= 0:
            raise ValueError("variant weights add up to 0; give at least one a weight above 0")
        return self


class EmailAction(_MessageAction):
    """Send an email rendered from templates/<locale>/<email>.email.j2."""

    kind: ClassVar[str] = "email"
    email: TemplateName
    attach: Attachments | None = Field(
        default=None,
        description="Files attached to the email, built from the event's data when it is "
        "rendered, e.g. {calendar: {uid: event.event_id, starts_at: event.starts_at}}.",
    )


class SmsAction(_MessageAction):
    """Send an SMS rendered from templates/<locale>/<sms>.sms.j2."""

    kind: ClassVar[str] = "sms"
    sms: TemplateName


class PromoCodeAction(_Action):
    """Issue a promo code without a message (e.g. for the shop's account page)."""

    kind: ClassVar[str] = "promo_code"
    promo_code: PromoCodeSpec


class WebhookAction(_Action):
    """POST a signed JSON notification to a URL (a CRM, a shop, a Slack relay)."""

    kind: ClassVar[str] = "webhook"
    webhook: str = Field(pattern=r"^(https?://\S+|[a-z][a-z0-9_]*)$")
    payload: dict[str, Any] = Field(default_factory=dict)


class SetAttributeAction(_Action):
    """Set customer attributes on entering the stage (visible to later conditions)."""

    kind: ClassVar[str] = "set_attribute"
    set_attribute: dict[str, str | int | float | bool | None] = Field(min_length=1)

    def _default_key(self) -> str:
        return "set_" + "_".join(sorted(self.set_attribute))[:56]


class MoveToAction(_Action):
    """Move the customer on to another stage, at once or `after` a delay."""

    kind: ClassVar[str] = "move_to"
    move_to: Key

    @model_validator(mode="after")
    def _moves_by_delay(self) -> MoveToAction:
        if self.timed:
            raise ValueError(
                "a move_to waits by 'after' only; to act at a date, move to a stage whose "
                "message is timed by 'of', 'at' or 'on'"
            )
        return self

    def _default_key(self) -> str:
        return f"move_to_{self.move_to}"


ACTION_TAGS = ("email", "sms", "webhook", "set_attribute", "move_to", "promo_code")

Action = Annotated[
    Annotated[EmailAction, Tag("email")]
    | Annotated[SmsAction, Tag("sms")]
    | Annotated[WebhookAction, Tag("webhook")]
    | Annotated[SetAttributeAction, Tag("set_attribute")]
    | Annotated[MoveToAction, Tag("move_to")]
    | Annotated[PromoCodeAction, Tag("promo_code")],
    Discriminator(
        _tag_of(ACTION_TAGS),
        custom_error_type="action_kind",
        custom_error_message="an action needs one of the keys: " + ", ".join(ACTION_TAGS),
    ),
]
MESSAGE_KINDS = ("email", "sms")


# --- stages and the journey ---------------------------------------------------------------


class Stage(_Model):
    key: Key
    title: Localized | None = None
    description: str = ""
    enter_when: Annotated[list[Trigger], BeforeValidator(_as_list)] = Field(default_factory=list)
    on_enter: Annotated[list[Action], BeforeValidator(_as_list)] = Field(default_factory=list)
    final: bool = Field(default=False, description="Reaching this stage completes the journey.")

    def title_in(self, locale: str) -> str:
        if isinstance(self.title, dict):
            return self.title.get(locale) or next(iter(self.title.values()), self.key)
        return self.title or self.key


class EntryRule(_Model):
    """Who may enter: the stages a new customer can start in, and an audience filter."""

    stages: list[Key] | None = Field(
        default=None, description="Stages a customer may enter the journey at; default: the first."
    )
    where: ConditionText | None = Field(
        default=None,
        description="Audience filter on the customer, e.g. \"customer.country == 'DE'\"",
    )


class EndRule(_Model):
    """An event that ends the enrollment (an exit, or a goal reached: a conversion)."""

    event: EventType
    where: ConditionText | None = None


class Reentry(_Model):
    """May a customer whose enrollment ended enter the journey again?"""

    policy: Literal["never", "after_cooldown", "always"] = "never"
    cooldown: Duration | None = None

    @model_validator(mode="after")
    def _cooldown_matches_policy(self) -> Reentry:
        if self.policy == "after_cooldown" and self.cooldown is None:
            raise ValueError("policy 'after_cooldown' needs a cooldown such as '30d'")
        if self.policy != "after_cooldown" and self.cooldown is not None:
            raise ValueError("a cooldown only applies to policy 'after_cooldown'")
        return self


class Sender(_Model):
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    name: str | None = None
    reply_to: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class Settings(_Model):
    timezone: TimeZone = Field(
        default="Europe/Berlin", description="Used when a customer has no time zone of their own."
    )
    quiet_hours: QuietHours | None = None
    frequency_cap: dict[Literal["email", "sms", "webhook"], FrequencyCap] = Field(
        default_factory=dict
    )
    sender: Sender = Field(default_factory=Sender)
    categories: list[str] = Field(default_factory=list)
    sms_max_segments: int = Field(
        default=3,
        ge=1,
        le=10,
        description="An SMS template longer than this many segments (160 GSM-7 / 70 UCS-2 "
        "characters each) is an error; longer than one is a warning, as each segment is billed.",
    )


class Migration(_Model):
    """How enrollments of an older version move into this one (stage renames and moves)."""

    from_version: int = Field(ge=1)
    stages: dict[Key, Key] = Field(
        default_factory=dict, description="old stage key -> stage key in this version"
    )


class Journey(_Model):
    """A customer journey: stages, what moves a customer between them, and what happens."""

    journey: Key = Field(description="Stable key of the journey, e.g. post_purchase")
    version: int = Field(ge=1, description="Bump it whenever the definition changes.")
    name: Localized
    description: str = ""
    enabled: bool = Field(
        default=True,
        description="Whether serve, the deployments and the demo run it; the setting "
        "JOURNEYFLOW_ENABLED_JOURNEYS (a comma-separated list of keys) decides instead when set.",
    )
    locale: Locale = Field(default="en", description="Default locale of the journey's messages.")
    locales: list[Locale] = Field(
        default_factory=list, description="Locales whose templates must exist; default: [locale]"
    )
    entry: EntryRule = Field(default_factory=EntryRule)
    goal: EndRule | None = Field(
        default=None, description="Reaching it ends the enrollment: a conversion."
    )
    exit: list[EndRule] = Field(default_factory=list, description="Events that end the enrollment.")
    reentry: Reentry = Field(default_factory=Reentry)
    stages: list[Stage] = Field(min_length=1)
    settings: Settings = Field(default_factory=Settings)
    migrations: list[Migration] = Field(default_factory=list)

    @property
    def all_locales(self) -> list[str]:
        return list(dict.fromkeys([self.locale, *self.locales]))

    @property
    def stage_keys(self) -> list[str]:
        return [s.key for s in self.stages]

    @cached_property
    def stage_map(self) -> dict[str, Stage]:
        return {s.key: s for s in self.stages}

    @property
    def entry_stages(self) -> list[str]:
        return self.entry.stages or [self.stages[0].key]

    def stage(self, key: str) -> Stage:
        try:
            return self.stage_map[key]
        except KeyError:
            from .errors import did_you_mean

            raise KeyError(f"unknown stage '{key}'{did_you_mean(key, self.stage_keys)}") from None

    def title(self, locale: str | None = None) -> str:
        if isinstance(self.name, dict):
            return self.name.get(locale or self.locale) or next(iter(self.name.values()))
        return self.name
