"""The whole report: every figure of a period, as one JSON-serialisable document.

`build_report` is what the command line, the HTML report and the flows call; each
section comes from its own module, each a handful of SQL aggregates. The document
carries the definitions it was computed with (look-back window, event names), so a
reader of a saved report knows what its numbers mean.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlmodel import Session

from .daily import DayRow, messages_by_day
from .feedback_kpis import CsatRow, NpsRow, survey_kpis
from .funnel import EdgeRow, OutcomeRow, StageRow, funnel
from .messages import MessageRow, messages
from .period import Period, ReportOptions, Segment
from .promos import PromoRow, promos
from .retention import RetentionRow, retention
from .reviews import RatingRow, ReviewRequestRow, ratings, review_requests
from .time_in_stage import TimeInStageRow, time_in_stage


class Definitions(BaseModel):
    """The settings the figures depend on."""

    model_config = ConfigDict(frozen=True)
    purchase_event: str
    lookback_days: float
    review_event: str
    rating_field: str
    review_templates: list[str]
    value_field: str
    currency_field: str


class Report(BaseModel):
    """Every figure for one period; see docs/insight.md for each definition."""

    model_config = ConfigDict(frozen=True)
    since: datetime | None
    until: datetime
    journey: str | None
    version: int | None
    by: Segment | None
    definitions: Definitions
    notes: list[str]
    stages: list[StageRow]
    edges: list[EdgeRow]
    outcomes: list[OutcomeRow]
    time_in_stage: list[TimeInStageRow]
    csat: list[CsatRow]
    nps: list[NpsRow]
    retention: list[RetentionRow]
    ratings: list[RatingRow]
    review_requests: list[ReviewRequestRow]
    promos: list[PromoRow]
    messages: list[MessageRow]
    messages_by_day: list[DayRow]

    def to_json(self, **kw: Any) -> str:
        return self.model_dump_json(**kw)


def build_report(
    session: Session,
    journey: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: Segment | None = None,
    *,
    version: int | None = None,
    options: ReportOptions | None = None,
) -> Report:
    """The report of [since, until) (until: default now; since: default the beginning),
    for one journey or all, optionally one version, optionally split by the customers'
    locale or country.

    Raises ReportError for options that describe no report (naming the option) and
    UnknownJourneyError for a journey the store has never registered.
    """
    period = Period(
        until=until if until is not None else datetime.now(UTC),
        since=since,
        journey=journey,
        version=version,
        by=by,
        options=options or ReportOptions(),
    )
    conn = session.connection()
    shape = funnel(conn, period)  # first: checks the journey and version exist
    csat_rows, nps_rows = survey_kpis(conn, period)
    return Report(
        since=period.since,
        until=period.until,
        journey=journey,
        version=version,
        by=by,
        definitions=_definitions(period.options),
        notes=_notes(period),
        stages=shape.stages,
        edges=shape.edges,
        outcomes=shape.outcomes,
        time_in_stage=time_in_stage(conn, period),
        csat=csat_rows,
        nps=nps_rows,
        retention=retention(conn, period),
        ratings=ratings(conn, period),
        review_requests=review_requests(conn, period),
        promos=promos(conn, period),
        messages=messages(conn, period),
        messages_by_day=messages_by_day(conn, period),
    )


def _definitions(options: ReportOptions) -> Definitions:
    return Definitions(
        purchase_event=options.purchase_event,
        lookback_days=options.lookback / timedelta(days=1),
        review_event=options.review_event,
        rating_field=options.rating_field,
        review_templates=list(options.review_templates),
        value_field=options.value_field,
        currency_field=options.currency_field,
    )


def _notes(period: Period) -> list[str]:
    notes = []
    if period.since is None:
        notes.append("no CRR: it needs the start of a period (since)")
    elif period.until - period.since > period.options.lookback:
        notes.append(
            "the period is longer than the look-back window: a new customer who bought "
            "only early in it is no longer a customer at its end, and CRR counts too few"
        )
    return notes
