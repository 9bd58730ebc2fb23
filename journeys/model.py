"""The journey language: one pydantic model from which the loader, the validator,
the reference docs and the JSON Schema for editors are all derived.

A journey is a list of stages. A customer enters a stage when one of its
`enter_when` triggers fires (an event, a delay in another stage, or inactivity),
and on entering, the stage's `on_enter` actions are scheduled.

The parts live in model_base (shared types), model_triggers, model_segment,
model_actions, model_abtest and model_attach; this module holds stages and the journey
and is the one namespace the rest of the code imports the language from.
"""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Literal

from pydantic import (
    BeforeValidator,
    Field,
    model_validator,
)

from .model_abtest import AbEventMetric as AbEventMetric  # re-exported with AbTest
from .model_abtest import AbTest as AbTest
from .model_actions import ACTION_TAGS as ACTION_TAGS
from .model_actions import MESSAGE_KINDS as MESSAGE_KINDS
from .model_actions import Action as Action
from .model_actions import EmailAction as EmailAction
from .model_actions import MoveToAction as MoveToAction
from .model_actions import PromoCodeAction as PromoCodeAction
from .model_actions import PromoCodeSpec as PromoCodeSpec
from .model_actions import SetAttributeAction as SetAttributeAction
from .model_actions import SmsAction as SmsAction
from .model_actions import Variant as Variant
from .model_actions import WebhookAction as WebhookAction
from .model_actions import _Action as _Action
from .model_actions import _MessageAction as _MessageAction
from .model_attach import Attachments as Attachments
from .model_base import ConditionText as ConditionText
from .model_base import Localized as Localized
from .model_base import TemplateName as TemplateName
from .model_base import _as_list as _as_list
from .model_base import _check_condition as _check_condition
from .model_base import _Model as _Model
from .model_segment import SegmentTrigger as SegmentTrigger  # re-exported with Trigger
from .model_triggers import TRIGGER_TAGS as TRIGGER_TAGS
from .model_triggers import DelayTrigger as DelayTrigger
from .model_triggers import EventTrigger as EventTrigger
from .model_triggers import InactivityTrigger as InactivityTrigger
from .model_triggers import ScheduleTrigger as ScheduleTrigger
from .model_triggers import Trigger as Trigger
from .model_triggers import YearlyTrigger as YearlyTrigger
from .types import (
    Duration,
    EventType,
    FrequencyCap,
    Key,
    Locale,
    QuietHours,
    TimeZone,
)

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
