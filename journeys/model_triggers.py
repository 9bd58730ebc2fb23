"""The journey language's triggers: what enters a customer into a stage (an event, a
delay, silence, a yearly date, a schedule; segments in model_segment.py)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated, ClassVar, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    Tag,
)

from .model_base import ConditionText, _Model, _tag_of
from .model_segment import SegmentTrigger
from .types import (
    Duration,
    EventType,
    Key,
    LocalTime,
    TimeZone,
)

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
