"""What a scenario expects: stages at times, messages sent, not sent and deferred, codes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from journeys.model import TemplateName
from journeys.types import Key

from .times import DEFAULT_WITHIN, Moment, Within


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
