"""What a report covers: a period [since, until), a journey and version, a segmentation.

Every figure is computed for a `Period`; its helpers turn it into SQL conditions, so
that each query module filters the same way. Rows are keyed by journey, version and
segment (the customer's current locale or country, when the report is split by one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from sqlalchemy import ColumnElement, Connection, and_, select, true

from ...errors import JourneyflowError, UnknownJourneyError, did_you_mean
from ..tables import customer_t, journey_version_t
from .sqlfuncs import check_json_key

Segment = Literal["locale", "country"]
SEGMENTS: tuple[str, ...] = get_args(Segment)


class ReportError(JourneyflowError, ValueError):
    """A report asked for with options that cannot describe one; the message names the
    option (`since`, `until`, `by`, `version`, …)."""


@dataclass(frozen=True)
class ReportOptions:
    """Where the report finds what the store keeps as plain events (see docs/insight.md)."""

    purchase_event: str = "order.completed"
    lookback: timedelta = timedelta(days=365)
    review_event: str = "review.submitted"
    rating_field: str = "rating"
    review_templates: tuple[str, ...] = ("review_request",)
    value_field: str = "total"
    currency_field: str = "currency"

    def __post_init__(self) -> None:
        if self.lookback <= timedelta(0):
            raise ReportError(f"lookback must be longer than 0, got {self.lookback}")
        for name in ("rating_field", "value_field", "currency_field"):
            try:
                check_json_key(getattr(self, name), name)
            except ValueError as exc:
                raise ReportError(str(exc)) from None
        for name in ("purchase_event", "review_event"):
            if not getattr(self, name):
                raise ReportError(f"{name} must name an event type")


@dataclass(frozen=True)
class Period:
    """The scope of a report. `since` None: from the first record on."""

    until: datetime
    since: datetime | None = None
    journey: str | None = None
    version: int | None = None
    by: Segment | None = None
    options: ReportOptions = field(default_factory=ReportOptions)

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            value = getattr(self, name)
            if value is None and name == "since":
                continue
            if not isinstance(value, datetime):
                raise ReportError(f"{name} must be a date and time, got {value!r}")
            if value.tzinfo is None or value.utcoffset() is None:
                raise ReportError(f"{name} {value.isoformat()} has no time zone; give one")
            try:
                object.__setattr__(self, name, value.astimezone(UTC))
            except OverflowError:
                raise ReportError(
                    f"{name} {value.isoformat()} lies outside the years 1 to 9999 in UTC"
                ) from None
        if self.since is not None and self.since >= self.until:
            raise ReportError(
                f"since ({self.since.isoformat()}) must be before until ({self.until.isoformat()})"
            )
        if self.by is not None and self.by not in SEGMENTS:
            hint = did_you_mean(str(self.by), SEGMENTS)
            raise ReportError(f"by: unknown segmentation '{self.by}'{hint}")
        if self.version is not None:
            if self.journey is None:
                raise ReportError("version: name the journey it is a version of")
            if isinstance(self.version, bool) or not isinstance(self.version, int):
                raise ReportError(f"version must be a whole number, got {self.version!r}")
            if self.version < 1:
                raise ReportError(f"version must be 1 or more, got {self.version}")

    # --- SQL conditions ----------------------------------------------------------------

    def within(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        """`column` falls in [since, until)."""
        before = column < self.until
        return before if self.since is None else and_(column >= self.since, before)

    def before_end(self, column: ColumnElement[Any]) -> ColumnElement[bool]:
        return column < self.until

    def journeys(
        self, journey: ColumnElement[Any], version: ColumnElement[Any] | None = None
    ) -> ColumnElement[bool]:
        """The report's journey (and version), or every journey."""
        conditions: list[ColumnElement[bool]] = []
        if self.journey is not None:
            conditions.append(journey == self.journey)
        if self.version is not None and version is not None:
            conditions.append(version == self.version)
        return and_(*conditions) if conditions else true()

    def segment(self) -> list[ColumnElement[Any]]:
        """The customer column the rows are split by: none, or `customer.locale|country`
        (the query must join `customer`)."""
        if self.by is None:
            return []
        return [customer_t.c[self.by].label("segment")]

    def back(self, moment: datetime) -> datetime:
        """`moment` minus the look-back window (from the first instant a datetime holds)."""
        try:
            return moment - self.options.lookback
        except OverflowError:
            return datetime.min.replace(tzinfo=UTC)

    @property
    def until_seconds(self) -> int:
        """`until` in whole seconds since 1970, as `epoch_seconds` truncates a column."""
        return math.floor(self.until.timestamp())


SliceKey = tuple[str | None, int | None, str | None]  # journey, version, segment


def slice_of(row: Sequence[Any], period: Period, journey: int = 0) -> tuple[SliceKey, int]:
    """(journey, version, segment) of a result row whose columns start at `journey`
    with journey, version and (when split) the segment; and the index after them."""
    key = row[journey], row[journey + 1]
    if period.by is None:
        return (key[0], key[1], None), journey + 2
    return (key[0], key[1], row[journey + 2]), journey + 3


def stage_orders(conn: Connection, period: Period) -> dict[tuple[str, int], list[str]]:
    """The stages of every version the report covers, in the definition's order.

    Raises UnknownJourneyError for a journey the store has never registered, and
    ReportError for a version it does not have.
    """
    rows = conn.execute(
        select(
            journey_version_t.c.journey,
            journey_version_t.c.version,
            journey_version_t.c.definition,
        ).order_by(journey_version_t.c.journey, journey_version_t.c.version)
    ).all()
    keys = {journey for journey, _, _ in rows}
    if period.journey is not None and period.journey not in keys:
        raise UnknownJourneyError(period.journey, keys)
    orders = {
        (journey, version): _stage_keys(definition)
        for journey, version, definition in rows
        if period.journey in (None, journey) and period.version in (None, version)
    }
    if period.version is not None and not orders:
        have = sorted(v for j, v, _ in rows if j == period.journey)
        raise ReportError(
            f"version: journey '{period.journey}' has no version {period.version}; "
            f"it has {', '.join(map(str, have))}"
        )
    return orders


def _stage_keys(definition: Mapping[str, Any]) -> list[str]:
    return [str(stage["key"]) for stage in definition.get("stages", [])]
