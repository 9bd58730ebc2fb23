"""Everything the HTML report and the daily-report flow show, gathered in one place.

- the report of the period (`build_report`), and of the period of the same length
  before it, for the trend of each KPI (none without a start);
- the A/B tests' results for the customers assigned in the period (`ab_results`);
- the journey map of every journey in the report with its live counts (`map_counts`:
  customers in each stage now and ever, and per way between stages).

Every figure is computed in the database; what is held here is a few rows per stage,
template, day and variant, whatever the size of the store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from journeys.abverdict import AbTestResult
from journeys.journey_map import JourneyMap, journey_map, with_counts
from journeys.model import Journey
from journeys.store.abtests import ab_results
from journeys.store.reports import Report, ReportOptions, Segment, build_report
from journeys.store.state.map_counts import map_counts
from journeys.store.tables import journey_version_t

# Labels of the maps: the page's language when a journey speaks it.
PAGE_LOCALE = "en"


@dataclass(frozen=True)
class Insight:
    report: Report
    previous: Report | None  # the period of the same length just before; None: no start
    abtests: list[AbTestResult]
    maps: list[JourneyMap] = field(default_factory=list)  # with counts, in journey order
    map_locales: dict[str, str] = field(default_factory=dict)  # journey -> labels' language
    database: str = ""  # where the figures come from (no password)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def journeys(self) -> list[tuple[str, int]]:
        """(journey, version) of every section of the report, in order."""
        seen: list[tuple[str, int]] = []
        r = self.report
        for row in (*r.stages, *r.outcomes, *r.messages, *r.promos):
            key = (row.journey, row.version)
            if row.journey is not None and row.version is not None and key not in seen:
                seen.append((row.journey, row.version))
        return sorted(seen)


def previous_period(since: datetime | None, until: datetime) -> tuple[datetime, datetime] | None:
    """The period of the same length that ends where [since, until) starts."""
    if since is None:
        return None
    try:
        return since - (until - since), since
    except OverflowError:  # a period reaching back before the year 1
        return None


def collect_insight(
    session: Session,
    journey: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: Segment | None = None,
    *,
    version: int | None = None,
    options: ReportOptions | None = None,
    database: str = "",
) -> Insight:
    """The report of [since, until) with its trend, A/B tests and maps (see module doc).

    Raises what `build_report` raises for options that describe no report.
    """
    report = build_report(session, journey, since, until, by, version=version, options=options)
    before = previous_period(report.since, report.until)
    previous = None
    if before is not None:
        previous = build_report(
            session, journey, before[0], before[1], by, version=version, options=options
        )
    tests = ab_results(session, journey, report.since, report.until)
    maps, locales = _maps(session, journey)
    return Insight(report, previous, tests, maps, locales, database)


def _maps(session: Session, journey: str | None) -> tuple[list[JourneyMap], dict[str, str]]:
    """The newest version of each journey, drawn with the store's counts."""
    j = journey_version_t.c
    query = select(j.journey, j.definition).order_by(j.journey, j.version.desc())
    if journey is not None:
        query = query.where(j.journey == journey)
    newest: dict[str, dict[str, Any]] = {}
    for key, definition in session.connection().execute(query):
        newest.setdefault(key, definition)
    maps, locales = [], {}
    for key, definition in newest.items():
        parsed = Journey.model_validate(definition)
        locale = PAGE_LOCALE if PAGE_LOCALE in parsed.all_locales else parsed.locale
        maps.append(with_counts(journey_map(parsed, locale), *map_counts(session, key)))
        locales[key] = locale
    return maps, locales
