"""The HTML report's charts, drawn by Plotly: funnel, time in stage, messages over time
and A/B results with their intervals.

Each function turns report rows into a Plotly figure and returns it as a `Chart`: the
figure's JSON (Plotly's own serialiser, which escapes `<`, `>` and `/`, so it can sit
inside a `<script>` element) and a sentence saying what it shows, for screen readers.
The page loads plotly.js once, inline, and draws every chart from that JSON: no
network, no server. Colours meet WCAG AA against white (contrast >= 4.5:1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from journeys.abverdict import AbTestResult
from journeys.store.reports import DayRow, StageRow, TimeInStageRow

from .report_tables import duration

# Blue, orange-brown, green, purple, red, grey: each >= 4.5:1 against white.
PALETTE = ("#0b5cad", "#9a3d00", "#1a7f37", "#8250df", "#a40e26", "#57606a")
HOLDOUT = "#57606a"
CONFIG: dict[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
}
DAY_S = 86_400.0


@dataclass(frozen=True)
class Chart:
    id: str
    summary: str  # what the chart shows, in words (its accessible name)
    figure: str  # Plotly JSON: {"data": [...], "layout": {...}}
    height: int


def _layout(height: int, **extra: Any) -> dict[str, Any]:
    return {
        "template": "plotly_white",
        "height": height,
        "autosize": True,
        "margin": {"l": 8, "r": 8, "t": 8, "b": 8},
        "font": {"family": "system-ui, -apple-system, 'Segoe UI', sans-serif", "size": 13},
        "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.02, "x": 0},
        "colorway": list(PALETTE),
        "hoverlabel": {"namelength": -1},
        **extra,
    }


def _chart(cid: str, summary: str, figure: go.Figure, height: int) -> Chart:
    return Chart(cid, summary, pio.to_json(figure, validate=True), height)


def _segments(rows: Sequence[Any]) -> list[str | None]:
    found: list[str | None] = []
    for row in rows:
        if row.segment not in found:
            found.append(row.segment)
    return sorted(found, key=lambda s: (s is None, s or ""))


def _name(segment: str | None) -> str:
    return segment if segment is not None else "(none)"


def _titles(order: list[str], titles: Mapping[str, str]) -> list[str]:
    """The stages' titles (the map's words), each key once even if two share a title."""
    shown = [titles.get(key, key) for key in order]
    return [t if shown.count(t) == 1 else f"{t} ({k})" for t, k in zip(shown, order, strict=True)]


def funnel(
    cid: str, stages: Sequence[StageRow], split: bool, titles: Mapping[str, str]
) -> Chart | None:
    """Per stage (in the journey's order, top down): customers who entered it in the
    period, and those in it at the end; split: who entered, per segment."""
    if not any(r.entered or r.in_stage for r in stages):
        return None
    order = list(dict.fromkeys(r.stage for r in stages))
    names = _titles(order, titles)
    figure = go.Figure()
    if split:
        for segment in _segments(stages):
            rows = {r.stage: r for r in stages if r.segment == segment}
            counts = [rows[s].entered if s in rows else 0 for s in order]
            figure.add_bar(y=names, x=counts, name=f"entered · {_name(segment)}", orientation="h")
    else:
        rows = {r.stage: r for r in stages}
        figure.add_bar(y=names, x=[rows[s].entered for s in order], name="entered in the period")
        figure.add_bar(y=names, x=[rows[s].in_stage for s in order], name="in the stage at the end")
        figure.update_traces(orientation="h")
    traces = max(1, len(figure.data))
    height = max(240, 70 + len(order) * (14 + 10 * traces))
    figure.update_layout(
        _layout(height, barmode="group", bargap=0.25),
        yaxis={"autorange": "reversed", "automargin": True, "title": None},
        xaxis={"title": {"text": "customers"}, "rangemode": "tozero", "automargin": True},
    )
    summary = (
        f"Bar chart of {len(order)} stages: customers who entered each stage in the "
        "period" + (", per segment." if split else ", and those in it at the end.")
    )
    return _chart(cid, summary, figure, height)


def time_in_stage(
    cid: str, times: Sequence[TimeInStageRow], split: bool, titles: Mapping[str, str]
) -> Chart | None:
    """Days in each stage of the visits that ended in the period: median and 90th
    percentile (split: the median per segment)."""
    left = [t for t in times if t.population == "left"]
    if not left:
        return None
    order = list(dict.fromkeys(t.stage for t in left))
    names = _titles(order, titles)
    figure = go.Figure()

    def bar(rows: dict[str, TimeInStageRow], field: str, name: str) -> None:
        seconds = [getattr(rows[s], field) if s in rows else None for s in order]
        figure.add_bar(
            y=names,
            x=[None if v is None else v / DAY_S for v in seconds],
            name=name,
            orientation="h",
            customdata=[duration(v) for v in seconds],
            hovertemplate="%{y}: %{customdata}<extra>" + name + "</extra>",
        )

    if split:
        for segment in _segments(left):
            bar({t.stage: t for t in left if t.segment == segment}, "median_s", _name(segment))
    else:
        rows = {t.stage: t for t in left}
        bar(rows, "median_s", "median")
        bar(rows, "p90_s", "90th percentile")
    traces = max(1, len(figure.data))
    height = max(240, 70 + len(order) * (14 + 10 * traces))
    figure.update_layout(
        _layout(height, barmode="group", bargap=0.25),
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"title": {"text": "days"}, "rangemode": "tozero", "automargin": True},
    )
    what = "the median per segment" if split else "median and 90th percentile"
    summary = (
        f"Bar chart of {len(order)} stages: days spent in each stage by the customers "
        f"who left it in the period, {what}."
    )
    return _chart(cid, summary, figure, height)


SERIES = ("sent", "delivered", "opened", "clicked")


def messages_over_time(cid: str, days: Sequence[DayRow], split: bool) -> Chart | None:
    """Per day: messages sent, and of those delivered, opened and clicked (split: sent
    per segment)."""
    if not days:
        return None
    figure = go.Figure()
    if split:
        for segment in _segments(days):
            rows = [d for d in days if d.segment == segment]
            figure.add_scatter(
                x=[d.day.isoformat() for d in rows],
                y=[d.sent for d in rows],
                name=f"sent · {_name(segment)}",
                mode="lines+markers",
            )
    else:
        for name in SERIES:
            figure.add_scatter(
                x=[d.day.isoformat() for d in days],
                y=[getattr(d, name) for d in days],
                name=name,
                mode="lines+markers",
            )
    figure.update_traces(marker={"size": 5}, connectgaps=False)
    height = 300
    figure.update_layout(
        _layout(height, hovermode="x unified"),
        xaxis={"type": "date", "automargin": True},
        yaxis={"title": {"text": "messages"}, "rangemode": "tozero", "automargin": True},
    )
    first, last = days[0].day, max(d.day for d in days)
    summary = f"Line chart of messages sent per day from {first} to {last}" + (
        ", per segment." if split else ", and of those delivered, opened and clicked."
    )
    return _chart(cid, summary, figure, height)


def ab_test(cid: str, result: AbTestResult) -> Chart | None:
    """Each variant's conversion rate with its 95 % interval as error bars."""
    arms = [a for a in result.arms if a.rate is not None]
    if not arms:
        return None
    names = [f"{a.variant} (holdout)" if a.holdout else a.variant for a in arms]
    rates = [100 * (a.rate or 0.0) for a in arms]
    high = [100 * (a.rate_high or 0.0) - r for a, r in zip(arms, rates, strict=True)]
    low = [r - 100 * (a.rate_low or 0.0) for a, r in zip(arms, rates, strict=True)]
    colours = [HOLDOUT if a.holdout else PALETTE[i % 4] for i, a in enumerate(arms)]
    figure = go.Figure(
        go.Bar(
            x=names,
            y=rates,
            marker={"color": colours},
            error_y={
                "type": "data",
                "symmetric": False,
                "array": high,
                "arrayminus": low,
                "color": "#1f2328",
                "thickness": 1.5,
            },
            customdata=[[a.conversions, a.recipients] for a in arms],
            hovertemplate="%{x}: %{y:.1f} % (%{customdata[0]} of %{customdata[1]})<extra></extra>",
            name="conversion rate",
        )
    )
    height = 280
    figure.update_layout(
        _layout(height, showlegend=False),
        yaxis={
            "title": {"text": f"{result.metric} rate, % (95 % interval)"},
            "rangemode": "tozero",
            "automargin": True,
        },
        xaxis={"automargin": True},
    )
    summary = (
        f"Bar chart of the {result.metric} rate of {len(arms)} variants of "
        f"{result.stage} · {result.action}, with 95 % intervals as error bars."
    )
    return _chart(cid, summary, figure, height)
