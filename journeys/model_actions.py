"""The journey language's actions: what a stage does on entering (emails, SMS,
webhooks, promo codes, attributes, moves), with their timing and A/B variants."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

from .model_abtest import AbTest
from .model_attach import Attachments
from .model_base import ConditionText, PromoPrefix, TemplateName, _Model, _tag_of
from .types import (
    DatePath,
    Duration,
    Key,
    Locale,
    LocalTime,
    Weekday,
)

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
