"""The `daily-report` deployment's flow: the report of the last days, every morning.

It builds the report of the `days` before the last midnight (UTC) with its trend, A/B
tests and maps (`flows.insight`), publishes the KPIs, the funnel and the messages as
Prefect table artifacts and a Markdown summary (visible in the Prefect UI under the
flow run and by key), writes the HTML page to the file the setting names
(`JOURNEYFLOW_REPORT_FILE`, default `var/report.html` in the project folder), and
returns the KPI figures as its result (`report_kpis.KpiSummary`, as JSON).

Every figure is computed in the database; the flow is one task, not one per journey:
a report is a few aggregate queries, cheaper than a task run each.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from journeys.store import database_url, session_scope
from journeys.store.reports import Report

from . import runtime
from .insight import Insight, collect_insight
from .report_kpis import KpiSummary, kpi_summary, kpi_table_rows, markdown

REPORT_FILE_ENV = "JOURNEYFLOW_REPORT_FILE"
DEFAULT_REPORT_FILE = Path("var") / "report.html"


class ReportParams(BaseModel):
    """What `daily-report` reports on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    days: int = Field(
        30, ge=1, le=3660, description="The period: this many days up to the last midnight (UTC)"
    )
    journey: str | None = Field(None, description="Only this journey (default: every journey)")
    output: str | None = Field(
        None,
        description=f"Where to write the HTML page (default: {REPORT_FILE_ENV}, else "
        f"{DEFAULT_REPORT_FILE} in the project folder)",
    )
    now: AwareDatetime | None = Field(
        None, description="Report as of this time instead of the wall clock (replays, tests)"
    )


REPORT_DEFAULTS = ReportParams()


def report_file(params: ReportParams) -> Path:
    """The HTML page's path: the parameter, else the setting, else var/report.html."""
    return Path(params.output or os.environ.get(REPORT_FILE_ENV) or DEFAULT_REPORT_FILE)


def report_period(params: ReportParams) -> tuple[datetime, datetime]:
    """[since, until): the `days` whole days (UTC) before the run's day."""
    now = (params.now or runtime.wall_clock()).astimezone(UTC)
    until = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return until - timedelta(days=params.days), until


@task(name="build-report", cache_policy=NO_CACHE, persist_result=False)
def build_insight(params: ReportParams) -> Insight:
    engine = runtime.open_store().engine  # schema and journeys, as the other jobs
    since, until = report_period(params)
    with session_scope(engine, readonly=True) as session:
        return collect_insight(
            session, params.journey, since, until, database=_where(database_url())
        )


def _where(url: str) -> str:
    from sqlalchemy import make_url

    return make_url(url).render_as_string(hide_password=True)


def _funnel_rows(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "journey": f"{s.journey} v{s.version}",
            "stage": s.stage,
            "entered": s.entered,
            "in stage at the end": s.in_stage,
            "exited": s.exited,
            "goal": s.goal,
        }
        for s in report.stages
    ]


def _message_rows(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "journey": f"{m.journey} v{m.version}",
            "template": m.template or "(holdout)",
            "channel": m.channel,
            "locale": m.locale,
            "sent": m.sent,
            "delivered %": m.delivered_pct,
            "opened %": m.opened_pct,
            "clicked %": m.clicked_pct,
            "bounced": m.bounced,
            "failed": m.failed,
        }
        for m in report.messages
    ]


def publish(summary: KpiSummary, report: Report) -> None:
    """The report as Prefect artifacts: tables of KPIs, funnel and messages, and a
    Markdown summary; each key keeps its history, one version per run."""
    title = f"daily-report {summary.since:%Y-%m-%d} – {summary.until:%Y-%m-%d} UTC"
    create_markdown_artifact(
        markdown=markdown(summary, title), key="daily-report", description=title
    )
    tables = {
        "daily-report-kpis": (kpi_table_rows(summary), "KPIs per journey version"),
        "daily-report-funnel": (_funnel_rows(report), "Funnel per stage"),
        "daily-report-messages": (_message_rows(report), "Messages per template"),
    }
    for key, (rows, description) in tables.items():
        if rows:
            create_table_artifact(table=rows, key=key, description=f"{title}: {description}")


@flow(
    name="daily-report",
    description="The report of the last days: Prefect artifacts, an HTML page and the KPIs.",
)
def daily_report(params: ReportParams = REPORT_DEFAULTS) -> dict[str, Any]:
    from .report_html import write_html

    insight = build_insight(params)
    path = write_html(insight, report_file(params))
    summary = kpi_summary(insight, file=str(path))
    publish(summary, insight.report)
    get_run_logger().info("wrote %s", path)
    return summary.model_dump(mode="json")
