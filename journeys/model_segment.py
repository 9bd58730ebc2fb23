"""The segment trigger of the journey language: an entry into the journey
(journeys/segments.py decides it) or, with `from`, a move between stages (the engine's
timers, journeys/engine_timers.py)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .types import Key


def _check_condition(source: str) -> str:
    from .model import _check_condition as check

    return check(source)


class SegmentTrigger(BaseModel):
    """Enter the journey at this stage when a condition on the customer becomes true:
    checked whenever something about them changes (an event, a profile update), and
    when time alone makes it true (`customer.last_order_at < now - 90d`). With `from`,
    customers in those stages move here when it holds: at once if it holds when they
    enter one of them, else at the change or the moment that makes it true."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    kind: ClassVar[str] = "segment"
    segment: Annotated[
        str,
        AfterValidator(_check_condition),
        Field(
            description='A condition on the customer, e.g. "customer.orders_total >= 3 and '
            'customer.country == \'DE\'" or "customer.last_order_at < now - 90d"',
        ),
    ]
    from_: list[Key] | None = Field(
        default=None,
        alias="from",
        min_length=1,
        description="Move customers in these stages here when the condition holds; "
        "without it, the segment enters the journey (on a stage it starts at).",
    )
