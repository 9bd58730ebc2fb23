"""A simulation's results as rich tables for the terminal."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from rich.table import Table

from .results import Count, DayFigures, Results

CHANNELS = ("email", "sms", "webhook")


def _table(title: str, columns: Iterable[str], labels: int = 1) -> Table:
    table = Table(title=title, title_justify="left")
    for i, name in enumerate(columns):
        table.add_column(name, justify="left" if i < labels else "right")
    return table


def _sum(counts: Iterable[Count], channel: str | None = None) -> int:
    return sum(c.n for c in counts if channel is None or c.channel == channel)


def days_table(results: Results) -> Table:
    """One row a day: who came, what happened, what went out and what was held back."""
    table = _table(
        "Per day (sent per channel; peak: the most messages due in one minute)",
        [
            "day",
            "new",
            "events",
            "entries",
            "email",
            "sms",
            "webhook",
            "deferred",
            "skipped",
            "failed",
            "codes",
            "peak",
        ],
    )
    for d in results.days:
        table.add_row(
            f"{d.date:%a %m-%d}",
            f"{d.appeared:,}",
            f"{d.events:,}",
            f"{sum(d.entries.values()):,}",
            *(f"{_sum(d.sent, c):,}" for c in CHANNELS),
            f"{_sum(d.deferred):,}",
            f"{_sum(d.skipped):,}",
            f"{_sum(d.failed):,}",
            f"{sum(d.promo_codes.values()):,}",
            f"{max((p.per_minute for p in d.peaks), default=0):,}",
        )
    return table


def messages_table(results: Results) -> Table:
    table = _table("Messages sent", ["journey", "channel", "template", "sent"], labels=3)
    for c in results.sent:
        table.add_row(c.journey or "", c.channel, c.what, f"{c.n:,}")
    return table


def held_table(results: Results) -> Table:
    """What the send rules and the dispatcher held back, and why."""
    table = _table("Held back", ["channel", "", "why", "messages"], labels=3)
    for verb, counts in (
        ("deferred", results.deferred),
        ("skipped", results.skipped),
        ("failed", results.failed),
    ):
        for c in counts:
            table.add_row(c.channel, verb, c.what, f"{c.n:,}")
    return table


def stages_table(results: Results, every: int = 7) -> Table:
    """Customers per stage at the end of every `every`-th day and of the last one."""
    picked = [d for d in results.days if d.day % every == every - 1]
    if results.days and (not picked or picked[-1] is not results.days[-1]):
        picked.append(results.days[-1])
    table = _table(
        "Stage populations (end of day)",
        ["journey", "stage", *(f"{d.date:%m-%d}" for d in picked)],
        labels=2,
    )
    last = results.days[-1] if results.days else None
    for journey, stages in last.stages.items() if last else []:
        for stage in stages:
            table.add_row(journey, stage, *(f"{_at(d, journey, stage):,}" for d in picked))
    return table


def _at(day: DayFigures, journey: str, stage: str) -> int:
    return day.stages.get(journey, {}).get(stage, 0)


def limits_table(results: Results) -> Table:
    table = _table(
        "Peak send rate against the provider limits",
        ["channel", "busiest minute", "busiest second", "limit", "busiest minute sent in", ""],
    )
    for limit in results.limits:
        rate = "none" if limit.per_second is None else f"{limit.per_second:g}/s"
        drain = "" if limit.drain_seconds is None else f"{limit.drain_seconds:,.0f} s"
        verdict = "ok" if limit.keeps_up else "[yellow]backlog[/yellow]"
        table.add_row(
            limit.channel,
            f"{limit.peak_per_minute:,}",
            f"{limit.peak_per_second:,}",
            f"{rate} ({limit.by})",
            drain,
            verdict,
        )
    return table


def promo_table(results: Results) -> Table:
    table = _table("Promo codes issued", ["campaign", "codes"])
    for campaign, n in Counter(results.promo_codes).most_common():
        table.add_row(campaign or "(none)", f"{n:,}")
    return table
