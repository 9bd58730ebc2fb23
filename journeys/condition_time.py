"""Time in conditions: `now`, durations, and dates read from the data.

    customer.last_order_at < now - 90d

`now` is the moment of the evaluation, which the caller puts into the scope (the
engine never reads the wall clock). A term is `now` or a value, shifted by durations;
the other side of a comparison with such a term is read as an instant: a datetime, a
date, or an ISO 8601 string (a date alone is midnight UTC, a time without a zone UTC).
Anything else, or a missing value, reads as None, so the comparison is False.

A condition that compares `now` with a date only changes its truth at the moments
where the two meet; `next_true` tries those moments in order, which is how a segment
finds when a customer will enter it without anything about them changing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from .conditions import Condition

__all__ = ["Clock", "as_instant", "next_true"]

Evaluator = Callable[[Mapping[str, Any]], Any]

# The moment just after a meeting point, for strict comparisons (`<`, `>`).
_TICK = timedelta(microseconds=1)


class Clock(NamedTuple):
    """`now` (base None) or a value, plus an offset."""

    base: Evaluator | None
    offset: timedelta


def as_instant(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime.combine(value, time(), UTC)
    if isinstance(value, str) and 10 <= len(value) <= 40:
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    return None


def _shift(moment: datetime | None, offset: timedelta) -> datetime | None:
    if moment is None:
        return None
    try:
        return moment + offset
    except OverflowError:  # beyond year 1 or 9999: no such moment, the comparison is False
        return None


def clock_function(clock: Clock) -> Evaluator:
    offset, base = clock.offset, clock.base
    if base is None:
        return lambda scope: _shift(as_instant(scope.get("now")), offset)
    return lambda scope: _shift(as_instant(base(scope)), offset)


def instant_function(node: Evaluator) -> Evaluator:
    return lambda scope: as_instant(node(scope))


def meeting_points(
    meetings: tuple[tuple[Evaluator, timedelta], ...], scope: Mapping[str, Any]
) -> list[datetime]:
    points = []
    for other, offset in meetings:
        moment = _shift(other(scope), -offset)
        if moment is not None:
            points.append(moment)
    return points


def next_true(condition: Condition, scope: Mapping[str, Any], after: datetime) -> datetime | None:
    """The first moment after `after` at which `condition` holds for `scope` (with `now`
    set to that moment), or None when time alone never makes it true."""
    candidates: set[datetime] = set()
    for meets in condition.meeting_points(scope):
        if meets > after:
            candidates.add(meets)
        if meets + _TICK > after:
            candidates.add(meets + _TICK)
    moving = dict(scope)
    for moment in sorted(candidates):
        moving["now"] = moment
        if condition.evaluate(moving):
            return moment
    return None
