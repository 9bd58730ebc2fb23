"""The report as rich tables for the terminal: a section per journey version (and one
for figures about every journey), a table per kind of figure."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from rich.table import Table

from journeys.store.reports import MessageRow, OutcomeRow, PromoRow, Report, TimeInStageRow
from journeys.store.reports.rows import SliceRow

Slice = tuple[str | None, int | None]
TIMES = ("left: median", "left: p90", "still in: median")
# Columns that name something (left-aligned); the others hold figures.
LABELS = frozenset({"stage", "from → to", "campaign", "template · channel · locale", "ratings"})
R = TypeVar("R", bound=SliceRow)


@dataclass
class Section:
    title: str
    tables: list[Table] = field(default_factory=list)
    key: Slice = (None, None)  # (journey, version); (None, None): every journey


def duration(seconds: float | None) -> str:
    """3d 4h, 5h 12m, 40m, 12s: the two largest units."""
    if seconds is None:
        return ""
    left = round(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if left >= size or (unit == "s" and not parts):
            value, left = divmod(left, size)
            parts.append(f"{value}{unit}")
    return " ".join(parts[:2])


def percent(value: float | None) -> str:
    return "" if value is None else f"{value:.1f} %"


def interval(value: float | None, low: float | None, high: float | None, unit: str = "") -> str:
    if value is None or low is None or high is None:
        return ""
    return f"{value:.1f}{unit} [{low:.1f}, {high:.1f}]"


def sections(report: Report) -> list[Section]:
    """What to print, in reading order; sections and tables without rows are left out."""
    order: list[Slice] = [(None, None)]
    for row in (*report.outcomes, *report.stages, *report.promos, *report.messages):
        if (row.journey, row.version) not in order:
            order.append((row.journey, row.version))
    out = []
    for key in order:
        title = "All journeys" if key[0] is None else f"{key[0]} v{key[1]}"
        section = Section(title, [t for t in _Tables(report, key).all() if t.row_count], key)
        if section.tables:
            out.append(section)
    return out


class _Tables:
    """The tables of one journey version (or of every journey: key (None, None))."""

    def __init__(self, report: Report, key: Slice) -> None:
        self.report, self.key, self.split = report, key, report.by is not None

    def of(self, rows: Sequence[R]) -> list[R]:
        return [r for r in rows if (r.journey, r.version) == self.key]

    def table(
        self, title: str, columns: Sequence[str], rows: Iterable[tuple[SliceRow, list[str]]]
    ) -> Table:
        t = Table(title=title, title_justify="left")
        names = [self.report.by or ""] * self.split + list(columns)
        for i, name in enumerate(names):
            left = name in LABELS or i < self.split
            t.add_column(name, justify="left" if left else "right", overflow="fold")
        for row, cells in rows:
            t.add_row(*([row.segment or "–"] * self.split), *cells)
        return t

    def all(self) -> list[Table]:
        return [
            self.funnel(),
            self.edges(),
            self.outcomes(),
            self.kpis(),
            self.reviews(),
            self.promos(),
            self.messages(),
        ]

    def funnel(self) -> Table:
        times: dict[tuple[str | None, str, str], TimeInStageRow] = {
            (t.segment, t.stage, t.population): t for t in self.of(self.report.time_in_stage)
        }

        def time(segment: str | None, stage: str, population: str, percentile: str) -> str:
            found = times.get((segment, stage, population))
            return duration(getattr(found, percentile)) if found else ""

        return self.table(
            "Funnel: in the stage at the end; entered, exits, goals in the period; time in stage",
            [*("stage", "in stage", "entered", "exited", "goal"), *TIMES],
            (
                (
                    r,
                    [
                        r.stage,
                        *map(str, (r.in_stage, r.entered, r.exited, r.goal)),
                        time(r.segment, r.stage, "left", "median_s"),
                        time(r.segment, r.stage, "left", "p90_s"),
                        time(r.segment, r.stage, "in_stage", "median_s"),
                    ],
                )
                for r in self.of(self.report.stages)
            ),
        )

    def edges(self) -> Table:
        return self.table(
            "Conversion per edge: of the customers who entered the stage in the period",
            ["from → to", "moved", "conversion"],
            (
                (e, [f"{e.from_stage} → {e.to_stage}", str(e.moved), percent(e.conversion_pct)])
                for e in self.of(self.report.edges)
            ),
        )

    def outcomes(self) -> Table:
        def cells(o: OutcomeRow) -> list[str]:
            counts = [o.enrolled, o.completed, o.exited, o.goal]
            return [*map(str, counts), percent(o.goal_pct)]

        return self.table(
            "Enrollments in the period (goal rate: of those begun in it)",
            ["begun", "completed", "exited", "goal", "goal rate"],
            ((o, cells(o)) for o in self.of(self.report.outcomes)),
        )

    def kpis(self) -> Table:
        rows: dict[str | None, tuple[SliceRow, list[str]]] = {}

        def cells(row: SliceRow) -> list[str]:
            return rows.setdefault(row.segment, (row, [""] * 5))[1]

        for c in self.of(self.report.csat):
            cells(c)[0:2] = [interval(c.csat_pct, c.low_pct, c.high_pct, " %"), str(c.answers)]
        for n in self.of(self.report.nps):
            cells(n)[2:4] = [interval(n.nps, n.low, n.high), str(n.answers)]
        for t in self.of(self.report.retention):
            crr = percent(t.crr_pct) or "–"
            cells(t)[4] = f"{crr} (S {t.at_start}, E {t.at_end}, N {t.new})"
        return self.table(
            "KPIs, with 95 % intervals",
            ["CSAT", "answers", "NPS", "answers", "CRR"],
            (rows[k] for k in sorted(rows, key=lambda k: (k is None, k or ""))),
        )

    def reviews(self) -> Table:
        asked = {r.segment: r for r in self.of(self.report.review_requests)}
        rows: dict[str | None, tuple[SliceRow, list[str]]] = {}
        for r in self.of(self.report.ratings):
            stars = " ".join(f"{k}★ {n}" for k, n in r.ratings.items())
            mean = "" if r.mean_rating is None else f"{r.mean_rating:.2f}"
            rows[r.segment] = (r, [stars, str(r.other), str(r.reviews), mean, ""])
        for segment, q in asked.items():
            row = rows.setdefault(segment, (q, [""] * 5))
            row[1][4] = f"{q.answered} of {q.requests} ({percent(q.answered_pct)})"
        return self.table(
            "Reviews in the period; review requests sent in it, answered",
            ["ratings", "other", "reviews", "mean", "requests answered"],
            (rows[k] for k in sorted(rows, key=lambda k: (k is None, k or ""))),
        )

    def promos(self) -> Table:
        def cells(p: PromoRow) -> list[str]:
            value = ", ".join(f"{v:,.2f} {cur}" for cur, v in sorted(p.redeemed_value.items()))
            counts = [p.issued, p.redeemed]
            rate = percent(p.redemption_pct)
            later = map(str, (p.expired, p.redeemed_in_period))
            return [p.campaign or "–", *map(str, counts), rate, *later, value]

        return self.table(
            "Promo codes issued in the period; redeemed of those by its end",
            ["campaign", "issued", "redeemed", "rate", "expired", "redeemed in period", "value"],
            ((p, cells(p)) for p in self.of(self.report.promos)),
        )

    def messages(self) -> Table:
        def listed(values: dict[str, int]) -> str:
            return ", ".join(f"{n} {why}" for why, n in values.items() if n)

        def cells(m: MessageRow) -> list[str]:
            message = f"{m.template or '(holdout)'} · {m.channel} · {m.locale or '–'}"
            rates = [m.delivered_pct, m.opened_pct, m.clicked_pct]
            counts = [m.bounced, m.complained, m.unsubscribed, m.failed]
            held = (listed(m.skipped), listed(m.deferred))
            return [message, str(m.sent), *map(percent, rates), *map(str, counts), *held]

        return self.table(
            "Messages sent in the period (delivered of sent; opened, clicked of delivered)",
            [
                *("template · channel · locale", "sent", "delivered", "opened", "clicked"),
                *("bounced", "spam", "unsub.", "failed", "skipped", "deferred"),
            ],
            ((m, cells(m)) for m in self.of(self.report.messages)),
        )
