"""The A/B test block of a message action with variants: how its test is judged.

Part of the journey language (`journeys/model.py` uses it); the statistics it asks for
are in `journeys/abstats.py`, the figures in `journeys/store/abtests/`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from .types import Duration, EventType


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AbEventMetric(_Model):
    """A conversion is an event of this type from the customer."""

    event: EventType


AB_METRICS = ("goal", "click", "redemption")
# The union's tags, which pydantic puts into error locations (the loader drops them).
METRIC_TAGS = ("named", "event")


def _metric_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "named"
    if isinstance(value, dict | AbEventMetric):
        return "event"
    return None


AbMetric = Annotated[
    Annotated[Literal["goal", "click", "redemption"], Tag("named")]
    | Annotated[AbEventMetric, Tag("event")],
    Discriminator(
        _metric_tag,
        custom_error_type="ab_metric",
        custom_error_message="a metric is goal, click, redemption or {event: <type>}",
    ),
]


class AbTest(_Model):
    """How the action's A/B test is judged (docs/ab-tests.md): what counts as a
    conversion, for how long after the message, and when a winner may be called."""

    metric: AbMetric = Field(
        default="goal",
        description="A conversion: 'goal' (the journey's goal reached), 'click' (a link in "
        "the message clicked), 'redemption' (a promo code of the customer's redeemed) or "
        "{event: <type>} (an event of that type).",
    )
    within: Duration = Field(
        default="14d",
        validate_default=True,
        description="Conversions count this long after the message was due "
        "(for the holdout: when it would have been).",
    )
    min_sample: int = Field(
        default=500,
        strict=True,  # not true/false or "500": a typo more likely than a count
        ge=1,
        le=1_000_000_000,
        description="Recipients every variant (the holdout too) needs before a winner is called.",
    )
    probability_to_be_best: float = Field(
        default=0.9,
        strict=True,
        ge=0.5,
        lt=1,
        description="How likely the leader must be the best variant to be called the winner.",
    )

    @property
    def metric_name(self) -> str:
        """'goal', 'click', 'redemption' or 'event:<type>'."""
        return self.metric if isinstance(self.metric, str) else f"event:{self.metric.event}"
