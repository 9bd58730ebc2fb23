"""The demo's closing figures: the funnel's main steps, a compact table of KPIs per
journey and the A/B decisions, from the same report the HTML page shows.

The demo's period starts a third of the way into the sample's events (so that there
are customers at its start, for CRR, and a period before it to compare with) and ends
with the run; the trends compare it with the period of the same length before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from journeys.abverdict import AbTestResult
from journeys.store.reports import EdgeRow

from .insight import Insight
from .report_kpis import KpiRow, change, kpi_summary
from .report_tables import percent


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def demo_period(
    first_event: datetime, last_event: datetime, clock_end: datetime
) -> tuple[datetime, datetime]:
    """[since, until) of the demo's report: from the midnight a third of the way from the
    first event to the last, to the midnight after the last dispatch (UTC)."""
    first = _midnight(first_event)
    third = timedelta(days=(_midnight(last_event) - first).days // 3)
    return first + third, _midnight(clock_end + timedelta(days=1))


def _cell(value: float | None, count: int, before: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return f"{value:.1f}{unit} ({count}) {change(value, before)}".strip()


def kpi_table(insight: Insight) -> Table:
    """One row per journey version (and one for every journey): CSAT, NPS, CRR with
    their counts and the change on the period before; messages and their rates."""
    table = Table(
        title="KPIs of the period (▲▼ change on the period before, in points)",
        caption="CSAT, NPS (answers); CRR (customers at the start); delivered of sent; "
        "opened, clicked of delivered",
    )
    names = ("journey", "CSAT", "NPS", "CRR", "sent", "delivered", "opened", "clicked")
    for name in names:
        table.add_column(name, justify="left" if name == "journey" else "right", overflow="fold")
    for k in kpi_summary(insight).kpis:
        table.add_row(*_cells(k))
    return table


def _cells(k: KpiRow) -> list[str]:
    name = "every journey" if k.journey is None else f"{k.journey} v{k.version}"
    return [
        name,
        _cell(k.csat_pct, k.csat_answers, k.csat_before_pct, " %"),
        _cell(k.nps, k.nps_answers, k.nps_before, ""),
        _cell(k.crr_pct, k.crr_at_start, k.crr_before_pct, " %"),
        str(k.sent),
        *map(percent, (k.delivered_pct, k.opened_pct, k.clicked_pct)),
    ]


def funnel_table(insight: Insight) -> Table:
    """Per journey and stage entered in the period: where most of them went next."""
    report = insight.report
    table = Table(title="Funnel of the period: each stage's main next step")
    for name in ("journey", "stage", "entered", "→ next stage", "moved", "conversion"):
        left = name in ("journey", "stage", "→ next stage")
        table.add_column(name, justify="left" if left else "right", overflow="fold")
    for key in insight.journeys:
        name = f"{key[0]} v{key[1]}"
        edges = [e for e in report.edges if (e.journey, e.version, e.segment) == (*key, None)]
        for stage in report.stages:
            if (stage.journey, stage.version, stage.segment) != (*key, None) or not stage.entered:
                continue
            out = [e for e in edges if e.from_stage == stage.stage]
            top: EdgeRow | None = max(out, key=lambda e: e.moved, default=None)
            cells = [name, stage.stage, str(stage.entered)]
            name = ""
            if top is None:
                table.add_row(*cells, "(none yet)", "", "")
            else:
                table.add_row(*cells, top.to_stage, str(top.moved), percent(top.conversion_pct))
    return table


def ab_lines(tests: Sequence[AbTestResult]) -> list[str]:
    """One line per A/B test: which, on what metric, and the decision."""
    return [
        f"A/B {t.journey} · {t.stage} · {t.action} ({t.metric} within {t.within}): "
        f"{t.decision.text}"
        for t in tests
    ]


def print_kpis(console: Console, report: Any) -> None:
    """What `journeyflow demo` prints last (`report`: the demo's DemoReport)."""
    insight: Insight = report.insight
    r = insight.report
    console.print(
        f"\n[bold]The demo's report[/bold]: {r.since:%Y-%m-%d} to {r.until:%Y-%m-%d} (UTC), "
        "from a third into the sample; trends against the period of the same length before",
        highlight=False,
        soft_wrap=True,
    )
    console.print(funnel_table(insight))
    console.print(kpi_table(insight))
    for line in ab_lines(insight.abtests):
        console.print(line, highlight=False, soft_wrap=True)
    reacted = ", ".join(f"{n} {what}" for what, n in sorted(report.reactions.items()))
    console.print(f"the sample's customers reacted: {reacted}", highlight=False, soft_wrap=True)
    if report.html is not None:
        console.print(
            f"[bold]report: {report.html}[/bold] (open it in a browser; it needs no network)",
            highlight=False,
            soft_wrap=True,
        )
