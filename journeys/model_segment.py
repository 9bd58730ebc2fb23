"""The segment trigger of the journey language (journeys/segments.py decides it)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _check_condition(source: str) -> str:
    from .model import _check_condition as check

    return check(source)


class SegmentTrigger(BaseModel):
    """Enter the journey at this stage when a condition on the customer becomes true:
    checked whenever something about them changes (an event, a profile update), and
    when time alone makes it true (`customer.last_order_at < now - 90d`)."""

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
