"""What a simulation predicts, as one JSON-serialisable document.

Per day: customers who appeared, events, entries, stage populations at the day's
end, sends per channel and template, deferrals (counted by the send rules as they
decided) and skips and failures by reason (from the store), promo codes issued, and
the peak send rate. At the end: the totals, the peak send rate against the provider
limits the configuration sets (`channels.settings`, `channels.ratelimit`), and the
report (`journeys.store.reports.build_report`: funnel and KPIs) over the simulated
store.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from sqlalchemy import Engine

from channels.ratelimit import sms_sender_rate
from channels.settings import ChannelSettings
from journeys.abverdict import AbTestResult
from journeys.model import Journey
from journeys.store import session_scope
from journeys.store.abtests import ab_results
from journeys.store.reports import Report, build_report

from . import figures
from .run import Run


class _Doc(BaseModel):
    model_config = ConfigDict(frozen=True)


class Count(_Doc):
    channel: str
    what: str  # a template (webhooks: the action), or a reason
    journey: str | None = None
    n: int


class Peak(_Doc):
    channel: str
    per_minute: int
    per_second: int
    day: int | None = None  # the day it happened (in totals)


class DayFigures(_Doc):
    day: int
    date: datetime
    appeared: int
    events: int
    entries: dict[str, int]
    stages: dict[str, dict[str, int]]  # journey -> stage -> customers there at day's end
    sent: list[Count]
    deferred: list[Count]
    skipped: list[Count]
    failed: list[Count]
    promo_codes: dict[str, int]
    peaks: list[Peak]


class Limit(_Doc):
    channel: str
    per_second: float | None  # None: no limit configured
    by: str  # where the figure comes from
    peak_per_minute: int
    peak_per_second: int
    drain_seconds: float | None  # how long the busiest minute takes at the limit
    keeps_up: bool


class Results(_Doc):
    start: datetime
    end: datetime
    seed: int | None
    customers: int
    events: int
    seconds: float
    journeys: list[str]
    rendered: int  # messages rendered through the templates
    unrendered: int  # messages counted without their text (see rendering.py)
    days: list[DayFigures]
    sent: list[Count]
    deferred: list[Count]
    skipped: list[Count]
    failed: list[Count]
    promo_codes: dict[str, int]
    limits: list[Limit]
    report: Report
    abtests: list[AbTestResult]  # the journeys' A/B tests over the run, judged at its end

    def to_json(self, **kw: object) -> str:
        return self.model_dump_json(**kw)  # type: ignore[arg-type]


def collect(
    engine: Engine,
    done: Run,
    journeys: Sequence[Journey],
    *,
    settings: ChannelSettings | None = None,
    seed: int | None = None,
    rendered: tuple[int, int] = (0, 0),
) -> Results:
    """The figures of a finished run, from its store and what the rules counted."""
    start, n = done.start, len(done.days)
    with session_scope(engine, readonly=True) as session:
        conn = session.connection()
        entries = figures.entries(conn, start)
        stages = figures.populations(conn, start, n)
        sends = figures.sends(conn, start)
        settled = figures.settled(conn, start)
        promos = figures.promo_codes(conn, start)
        peaks = figures.peaks(conn, start)
        report = build_report(session, until=done.end)
        abtests = ab_results(session, None, report.since, report.until)
    days = []
    for d, day in enumerate(done.days):
        population: dict[str, dict[str, int]] = {}
        for (journey, stage), counts in sorted(stages.items()):
            population.setdefault(journey, {})[stage] = counts[d]
        days.append(
            DayFigures(
                day=d,
                date=day.date,
                appeared=day.appeared,
                events=day.result.events,
                entries={c.keys[0]: c.n for c in entries if c.day == d},
                stages=population,
                sent=[_sent(c) for c in sends if c.day == d],
                deferred=_held(day.held, "deferred"),
                skipped=[_reason(c) for c in settled if c.day == d and c.keys[1] == "skipped"],
                failed=[_reason(c) for c in settled if c.day == d and c.keys[1] == "failed"],
                promo_codes={c.keys[0]: c.n for c in promos if c.day == d},
                peaks=[
                    Peak(channel=p.channel, per_minute=p.per_minute, per_second=p.per_second)
                    for p in peaks
                    if p.day == d
                ],
            )
        )
    held: Counter[tuple[str, str, str]] = Counter()
    for day in done.days:
        held += day.held
    issued: Counter[str] = Counter()
    for c in promos:
        issued[c.keys[0]] += c.n
    return Results(
        start=start,
        end=done.end,
        seed=seed,
        customers=done.customers,
        events=done.events,
        seconds=done.seconds,
        journeys=[j.journey for j in journeys],
        rendered=rendered[0],
        unrendered=rendered[1],
        days=days,
        sent=_total([c for d in days for c in d.sent]),
        deferred=_held(held, "deferred"),
        skipped=_total([c for d in days for c in d.skipped]),
        failed=_total([c for d in days for c in d.failed]),
        promo_codes=dict(sorted(issued.items())),
        limits=limits(peaks, settings or ChannelSettings.from_env()),
        report=report,
        abtests=abtests,
    )


def _sent(c: figures.Counted) -> Count:
    channel, journey, template = c.keys
    return Count(channel=channel, journey=journey, what=template, n=c.n)


def _reason(c: figures.Counted) -> Count:
    return Count(channel=c.keys[0], what=c.keys[2], n=c.n)


def _held(held: Counter[tuple[str, str, str]], verb: str) -> list[Count]:
    return [
        Count(channel=channel, what=reason, n=n)
        for (channel, v, reason), n in sorted(held.items())
        if v == verb
    ]


def _total(counts: list[Count]) -> list[Count]:
    summed: Counter[tuple[str, str | None, str]] = Counter()
    for c in counts:
        summed[(c.channel, c.journey, c.what)] += c.n
    return [
        Count(channel=channel, journey=journey, what=what, n=n)
        for (channel, journey, what), n in sorted(
            summed.items(), key=lambda kv: (kv[0][0], kv[0][1] or "", kv[0][2])
        )
    ]


def limits(peaks: list[figures.Peak], settings: ChannelSettings) -> list[Limit]:
    """The busiest minute and second per channel against the provider's rate."""
    out = []
    for channel in sorted({p.channel for p in peaks}):
        mine = [p for p in peaks if p.channel == channel]
        minute = max(p.per_minute for p in mine)
        second = max(p.per_second for p in mine)
        rate, by = provider_rate(channel, settings)
        drain = None if rate is None else minute / rate
        keeps_up = rate is None or (drain is not None and drain <= 60)
        out.append(
            Limit(
                channel=channel,
                per_second=rate,
                by=by,
                peak_per_minute=minute,
                peak_per_second=second,
                drain_seconds=drain,
                keeps_up=keeps_up,
            )
        )
    return out


def provider_rate(channel: str, settings: ChannelSettings) -> tuple[float | None, str]:
    """Messages per second the configured provider takes, and where that comes from."""
    if channel == "email":
        if settings.sendgrid_rate is not None:
            return settings.sendgrid_rate, "JOURNEYFLOW_SENDGRID_RATE"
        return None, "no JOURNEYFLOW_SENDGRID_RATE set: unlimited"
    if channel == "sms":
        if settings.sms_rate is not None:
            return settings.sms_rate, "JOURNEYFLOW_SMS_RATE"
        sender = settings.twilio_messaging_service_sid or settings.twilio_from_number
        if sender:
            return sms_sender_rate(sender), f"Twilio sender {sender[:2]}…: by its kind"
        return None, "no Twilio sender configured (a long code takes 1/s)"
    return None, "webhooks: no limit"
