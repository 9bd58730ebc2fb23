"""The report as one self-contained HTML page: opens from a file, offline.

Everything is inside the file: the styles, plotly.js (once, inline) and each chart's
data, and every journey map as an inline SVG picture drawn by Graphviz. A Content
Security Policy forbids the page any load from elsewhere. The page is a Jinja2
template (`flows/html/report.html.j2`, autoescaped); the figures' tables are the
terminal's (`report_tables`, `cli_abtests.table`), so both say the same; each chart
has its table next to it, for screen readers and for copying.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from rich.table import Table

from journeys.journey_map import JourneyMap
from journeys.map_draw import DrawingError, render
from journeys.store.reports import Report

from . import report_charts as charts
from .cli_abtests import table as ab_table
from .insight import Insight
from .report_charts import Chart
from .report_tables import Section as TerminalSection
from .report_tables import sections as terminal_sections
from .report_tiles import Tile, tiles

TEMPLATES = Path(__file__).resolve().parent / "html"
_ENV = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_SVG_START = re.compile(r"<svg\b[^>]*>")
_ID = re.compile(r'\bid="([^"]*)"')


@dataclass(frozen=True)
class HtmlTable:
    caption: str
    headers: list[str]
    numeric: list[bool]
    rows: list[list[str]]
    note: str = ""


@dataclass
class Block:
    """A titled part of a section: a chart (or a map) and the tables that carry it."""

    title: str
    chart: Chart | None = None
    svg: Markup | None = None
    svg_lang: str | None = None
    tables: list[HtmlTable] = field(default_factory=list)
    empty: str = ""  # what to say when there is nothing to show


@dataclass
class PageSection:
    id: str
    title: str
    tiles: list[Tile]
    blocks: list[Block]


def html_table(table: Table) -> HtmlTable:
    """A rich table's title, headers and cells, as text."""
    columns = table.columns
    rows = [list(r) for r in zip(*(list(c.cells) for c in columns), strict=True)]
    return HtmlTable(
        caption=str(table.title or ""),
        headers=[str(c.header) for c in columns],
        numeric=[c.justify == "right" for c in columns],
        rows=[[str(cell) for cell in row] for row in rows],
        note=str(table.caption or ""),
    )


def map_svg(map_: JourneyMap) -> Markup | None:
    """The map as an inline SVG element (ids prefixed: a page holds several maps)."""
    try:
        drawn = render(map_, "svg").decode("utf-8")
    except DrawingError:
        return None
    start = _SVG_START.search(drawn)
    if start is None:
        return None
    svg = drawn[start.start() :]
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", map_.key)
    svg = _ID.sub(lambda m: f'id="map-{prefix}-{m.group(1)}"', svg)
    label = f"Journey map of {map_.title}: stages, customers in them and the ways between"
    root = f'<svg role="img" aria-label="{_attr(label)}" class="map" '
    # Graphviz's own size in points stays as the picture's natural size; the style
    # sheet scales it down to the width of the page.
    svg = svg.replace("<svg ", root, 1)
    # Graphviz's output: map_draw escaped every text it was given.
    return Markup(svg)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def _map_table(map_: JourneyMap) -> HtmlTable:
    rows = [
        [n.title, str(n.now or 0), str(n.entered or 0)]
        for n in map_.nodes
        if n.kind in ("stage", "final")
    ]
    return HtmlTable(
        "Customers per stage (all history until now)",
        ["stage", "in the stage now", "ever entered"],
        [False, True, True],
        rows,
    )


def _daily_table(report: Report, key: tuple[str | None, int | None]) -> HtmlTable:
    split = report.by is not None
    rows = [
        [*([d.segment or "–"] if split else []), d.day.isoformat()]
        + [str(x) for x in (d.sent, d.delivered, d.opened, d.clicked, d.bounced)]
        for d in report.messages_by_day
        if (d.journey, d.version) == key
    ]
    headers = [*([report.by or ""] if split else []), "day"]
    headers += ["sent", "delivered", "opened", "clicked", "bounced"]
    numeric = [False] * (2 if split else 1) + [True] * 5
    return HtmlTable("Messages per day they were sent", headers, numeric, rows)


def _of(tables: list[Table], starts: str) -> list[HtmlTable]:
    return [html_table(t) for t in tables if str(t.title or "").startswith(starts)]


def _section(insight: Insight, terminal: TerminalSection, key: tuple[str, int]) -> PageSection:
    report, split = insight.report, insight.report.by is not None
    journey, version = key
    cid = f"{re.sub(r'[^A-Za-z0-9_-]', '-', journey)}-v{version}"
    found = {m.key: m for m in insight.maps}
    blocks = []
    drawn = found.get(journey)
    if drawn is not None:
        svg = map_svg(drawn)
        blocks.append(
            Block(
                "Journey map with live counts",
                svg=svg,
                svg_lang=insight.map_locales.get(journey),
                tables=[_map_table(drawn)],
                empty="" if svg else "Graphviz (dot) is not installed: no picture of the map.",
            )
        )
    titles = {n.key: n.title for n in drawn.nodes} if drawn is not None else {}
    tables = terminal.tables
    of = [r for r in report.stages if (r.journey, r.version) == key]
    times = [t for t in report.time_in_stage if (t.journey, t.version) == key]
    days = [d for d in report.messages_by_day if (d.journey, d.version) == key]
    blocks += [
        Block(
            "Funnel",
            charts.funnel(f"funnel-{cid}", of, split, titles),
            tables=_of(tables, "Funnel") + _of(tables, "Conversion") + _of(tables, "Enrollments"),
            empty="Nobody entered a stage in the period.",
        ),
        Block(
            "Time in stage",
            charts.time_in_stage(f"time-{cid}", times, split, titles),
            tables=_of(tables, "Funnel"),
            empty="Nobody left a stage in the period.",
        ),
        Block(
            "Messages over time",
            charts.messages_over_time(f"messages-{cid}", days, split),
            tables=[_daily_table(report, key), *_of(tables, "Messages")],
            empty="No email or SMS was sent in the period.",
        ),
    ]
    for n, test in enumerate(t for t in insight.abtests if t.journey == journey):
        blocks.append(
            Block(
                f"A/B test: {test.stage} · {test.action}",
                charts.ab_test(f"ab-{cid}-{n}", test),
                tables=[html_table(ab_table(test))],
                empty="Nobody was assigned a variant in the period.",
            )
        )
    more = _of(tables, "KPIs") + _of(tables, "Reviews") + _of(tables, "Promo")
    if more:
        blocks.append(Block("KPIs, reviews and promo codes", tables=more))
    title = f"{drawn.title if drawn is not None else journey} ({journey} v{version})"
    return PageSection(cid, title, tiles(report, insight.previous, key), blocks)


def page(insight: Insight) -> dict[str, Any]:
    """What the template shows."""
    report = insight.report
    terminal = {(s.key[0], s.key[1]): s for s in terminal_sections(report)}
    sections = []
    for key in insight.journeys:
        section = terminal.get(key) or TerminalSection(f"{key[0]} v{key[1]}", [], key)
        sections.append(_section(insight, section, key))
    overall = terminal.get((None, None))
    whole = PageSection(
        "all-journeys",
        "Every journey",
        tiles(report, insight.previous, (None, None)) if report.journey is None else [],
        [Block("Figures about every journey", tables=[html_table(t) for t in overall.tables])]
        if overall
        else [],
    )
    all_charts = [b.chart for s in [whole, *sections] for b in s.blocks if b.chart is not None]
    return {
        "insight": insight,
        "report": report,
        "scope": report.journey or "every journey",
        "whole": whole,
        "sections": sections,
        "charts": all_charts,
        "previous": insight.previous,
    }


def render_html(insight: Insight) -> str:
    """The whole page as one string."""
    from plotly.offline import get_plotlyjs

    context = page(insight)
    figures = ",".join(f'{{"id":"{c.id}","figure":{c.figure}}}' for c in context["charts"])
    return _ENV.get_template("report.html.j2").render(
        **context,
        # The library as shipped, and JSON with <, > and / escaped: safe in <script>.
        plotly_js=Markup(get_plotlyjs()),
        figures=Markup(f"[{figures}]"),
        config=Markup(_json(charts.CONFIG)),
    )


def _json(value: Any) -> str:
    import json

    return json.dumps(value).replace("<", "\\u003c").replace(">", "\\u003e")


def write_html(insight: Insight, path: Path) -> Path:
    """Write the page to `path` (its folder is made); returns the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(insight), encoding="utf-8")
    return path
