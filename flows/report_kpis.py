"""The report's headline figures per journey version: what the daily-report flow returns
and publishes, and what the demo prints.

Per journey version (and for every journey together): CSAT, NPS and CRR with their
counts and the figure of the period before, the enrollments and goal rate, and the
messages sent with their rates; per A/B test, its decision. All of it is read from an
`Insight` (the figures were computed in the database); nothing is recounted here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

from journeys.kpi_math import pct
from journeys.store.reports import Report
from journeys.store.reports.rows import SliceRow

from .insight import Insight

R = TypeVar("R", bound=SliceRow)
Key = tuple[str | None, int | None]


class KpiRow(BaseModel):
    model_config = ConfigDict(frozen=True)
    journey: str | None  # None: every journey
    version: int | None
    csat_pct: float | None
    csat_answers: int
    csat_before_pct: float | None  # the period of the same length before
    nps: float | None
    nps_answers: int
    nps_before: float | None
    crr_pct: float | None
    crr_at_start: int
    crr_before_pct: float | None
    enrolled: int | None  # enrollments begun in the period (None: every journey)
    goal_pct: float | None
    sent: int
    delivered_pct: float | None  # of sent
    opened_pct: float | None  # of delivered
    clicked_pct: float | None  # of delivered


class AbDecision(BaseModel):
    model_config = ConfigDict(frozen=True)
    journey: str
    stage: str
    action: str
    metric: str
    status: str  # winner, not_yet, no_test
    winner: str | None
    text: str


class KpiSummary(BaseModel):
    model_config = ConfigDict(frozen=True)
    since: datetime | None
    until: datetime
    previous_since: datetime | None
    file: str | None  # the HTML report, when one was written
    kpis: list[KpiRow]
    abtests: list[AbDecision]


def _one(rows: Sequence[R], key: Key) -> R | None:
    """The row of one journey version, not split by segment."""
    return next((r for r in rows if (r.journey, r.version) == key and r.segment is None), None)


def _row(report: Report, previous: Report | None, key: Key) -> KpiRow:
    csat, nps, crr = _one(report.csat, key), _one(report.nps, key), _one(report.retention, key)
    before_csat = _one(previous.csat, key) if previous else None
    before_nps = _one(previous.nps, key) if previous else None
    before_crr = _one(previous.retention, key) if previous else None
    outcome = _one(report.outcomes, key)
    messages = [m for m in report.messages if key == (None, None) or (m.journey, m.version) == key]
    sent = sum(m.sent for m in messages)
    delivered = sum(m.delivered for m in messages)
    return KpiRow(
        journey=key[0],
        version=key[1],
        csat_pct=csat.csat_pct if csat else None,
        csat_answers=csat.answers if csat else 0,
        csat_before_pct=before_csat.csat_pct if before_csat else None,
        nps=nps.nps if nps else None,
        nps_answers=nps.answers if nps else 0,
        nps_before=before_nps.nps if before_nps else None,
        crr_pct=crr.crr_pct if crr else None,
        crr_at_start=crr.at_start if crr else 0,
        crr_before_pct=before_crr.crr_pct if before_crr else None,
        enrolled=outcome.enrolled if outcome else None,
        goal_pct=outcome.goal_pct if outcome else None,
        sent=sent,
        delivered_pct=pct(delivered, sent),
        opened_pct=pct(sum(m.opened for m in messages), delivered),
        clicked_pct=pct(sum(m.clicked for m in messages), delivered),
    )


def kpi_summary(insight: Insight, file: str | None = None) -> KpiSummary:
    report, previous = insight.report, insight.previous
    keys: list[Key] = [(None, None)] if report.journey is None else []
    keys += insight.journeys
    return KpiSummary(
        since=report.since,
        until=report.until,
        previous_since=previous.since if previous else None,
        file=file,
        kpis=[_row(report, previous, key) for key in keys],
        abtests=[
            AbDecision(
                journey=t.journey,
                stage=t.stage,
                action=t.action,
                metric=t.metric,
                status=t.decision.status,
                winner=t.decision.winner,
                text=t.decision.text,
            )
            for t in insight.abtests
        ],
    )


def _value(value: float | None, unit: str = " %") -> str:
    return "–" if value is None else f"{value:.1f}{unit}"


def change(now: float | None, before: float | None) -> str:
    """'▲ 4.1', '▼ 2.0', '= 0.0', or '' when either figure is missing (points)."""
    if now is None or before is None:
        return ""
    diff = round(now - before, 1)
    return f"{'▲' if diff > 0 else '▼' if diff < 0 else '='} {abs(diff):.1f}"


def kpi_table_rows(summary: KpiSummary) -> list[dict[str, str | int | float | None]]:
    """The KPIs as a table (one dict per journey version), for a Prefect table artifact."""
    return [
        {
            "journey": "every journey" if k.journey is None else f"{k.journey} v{k.version}",
            "CSAT %": k.csat_pct,
            "CSAT answers": k.csat_answers,
            "NPS": k.nps,
            "NPS answers": k.nps_answers,
            "CRR %": k.crr_pct,
            "enrolled": k.enrolled,
            "goal %": k.goal_pct,
            "sent": k.sent,
            "delivered %": k.delivered_pct,
            "opened %": k.opened_pct,
            "clicked %": k.clicked_pct,
        }
        for k in summary.kpis
    ]


def markdown(summary: KpiSummary, title: str) -> str:
    """A Markdown page of the KPIs and the A/B decisions."""
    since = f"{summary.since:%Y-%m-%d %H:%M}" if summary.since else "the beginning"
    lines = [f"### {title}", "", f"From {since} until {summary.until:%Y-%m-%d %H:%M} UTC."]
    if summary.file:
        lines.append(f"HTML report: `{summary.file}`")
    lines += [
        "",
        "| journey | CSAT | NPS | CRR | sent | opened | clicked |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for k in summary.kpis:
        name = "every journey" if k.journey is None else f"{k.journey} v{k.version}"
        cells = [
            f"{_value(k.csat_pct)} ({k.csat_answers}) {change(k.csat_pct, k.csat_before_pct)}",
            f"{_value(k.nps, '')} ({k.nps_answers}) {change(k.nps, k.nps_before)}",
            f"{_value(k.crr_pct)} {change(k.crr_pct, k.crr_before_pct)}",
            str(k.sent),
            _value(k.opened_pct),
            _value(k.clicked_pct),
        ]
        lines.append(f"| {name} | " + " | ".join(c.strip() for c in cells) + " |")
    if summary.abtests:
        lines += ["", "| A/B test | decision |", "|---|---|"]
        lines += [
            f"| {t.journey} · {t.stage} · {t.action} ({t.metric}) | {t.text.replace('|', '/')} |"
            for t in summary.abtests
        ]
    return "\n".join(lines) + "\n"
