"""The demo's closing figures: a compact table of KPIs per journey, the funnel's main
conversions and the A/B decisions, from the same report the HTML page shows.

The demo's period starts a third of the way into the sample's events (so that there
are customers at its start, for CRR, and a period before it to compare with) and ends
with the run; the trends compare it with the period of the same length before.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from rich.table import Table

from journeys.store.reports import EdgeRow, MessageRow, Report
from journeys.store.reports.rows import SliceRow

from .insight import Insight
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


Key = tuple[str | None, int | None]
R = TypeVar("R", bound=SliceRow)


def _trend(now: float | None, before: float | None) -> str:
    if now is None or before is None:
        return ""
    diff = now - before
    return f" {'▲' if diff > 0 else '▼' if diff < 0 else '='}{abs(diff):.1f}"


def _of(rows: Sequence[R], key: Key) -> list[R]:
    """The rows of one journey version (not split by segment)."""
    return [r for r in rows if (r.journey, r.version) == key and r.segment is None]


def _kpis(report: Report, previous: Report | None, key: Key) -> list[str]:
    cells = []
    kinds: list[tuple[Sequence[SliceRow], Sequence[SliceRow], str, str, str]] = [
        (report.csat, previous.csat if previous else [], "csat_pct", "answers", " %"),
        (report.nps, previous.nps if previous else [], "nps", "answers", ""),
        (report.retention, previous.retention if previous else [], "crr_pct", "at_start", " %"),
    ]
    for rows, before, field, count, unit in kinds:
        row = next(iter(_of(rows, key)), None)
        old = next(iter(_of(before, key)), None)
        value = getattr(row, field, None) if row is not None else None
        if value is None:
            cells.append("–")
            continue
        n = getattr(row, count)
        trend = _trend(value, getattr(old, field, None) if old is not None else None)
        cells.append(f"{value:.1f}{unit} ({n}){trend}")
    return cells


def _messages(rows: Sequence[MessageRow]) -> list[str]:
    sent = sum(m.sent for m in rows)
    delivered = sum(m.delivered for m in rows)
    opened, clicked = sum(m.opened for m in rows), sum(m.clicked for m in rows)
    rate = percent(100 * delivered / sent) if sent else ""
    over = (percent(100 * n / delivered) if delivered else "" for n in (opened, clicked))
    return [str(sent), rate, *over]


def kpi_table(insight: Insight) -> Table:
    """One row per journey version (and one for every journey): CSAT, NPS, CRR with
    their counts and the change on the period before; messages and their rates."""
    report, previous = insight.report, insight.previous
    table = Table(
        title="KPIs of the period (▲▼ change on the period before, in points)",
        caption="CSAT, NPS (answers); CRR (customers at the start); delivered of sent; "
        "opened, clicked of delivered",
    )
    names = ("journey", "CSAT", "NPS", "CRR", "sent", "delivered", "opened", "clicked")
    for name in names:
        table.add_column(name, justify="left" if name == "journey" else "right", overflow="fold")
    keys: list[Key] = [(None, None), *insight.journeys]
    for key in keys:
        rows = (
            report.messages
            if key == (None, None)
            else [m for m in report.messages if (m.journey, m.version) == key]
        )
        name = "every journey" if key[0] is None else f"{key[0]} v{key[1]}"
        table.add_row(name, *_kpis(report, previous, key), *_messages(rows))
    return table


def funnel_table(insight: Insight) -> Table:
    """Per journey and stage entered in the period: where most of them went next."""
    report = insight.report
    table = Table(title="Funnel of the period: each stage's main next step")
    for name in ("journey", "stage", "entered", "→ next stage", "moved", "conversion"):
        left = name in ("journey", "stage", "→ next stage")
        table.add_column(name, justify="left" if left else "right", overflow="fold")
    for key in insight.journeys:
        first = True
        for stage in _of(report.stages, key):
            if not stage.entered:
                continue
            edges = [e for e in _of(report.edges, key) if e.from_stage == stage.stage]
            top: EdgeRow | None = max(edges, key=lambda e: e.moved, default=None)
            name = f"{key[0]} v{key[1]}" if first else ""
            first = False
            if top is None:
                table.add_row(name, stage.stage, str(stage.entered), "(none yet)", "", "")
                continue
            moved, rate = str(top.moved), percent(top.conversion_pct)
            table.add_row(name, stage.stage, str(stage.entered), top.to_stage, moved, rate)
    return table


def ab_lines(insight: Insight) -> list[str]:
    """One line per A/B test: which, on what metric, and the decision."""
    return [
        f"A/B {t.journey} · {t.stage} · {t.action} ({t.metric} within {t.within}): "
        f"{t.decision.text}"
        for t in insight.abtests
    ]
