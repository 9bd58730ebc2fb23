"""The demo: the shipped journeys over the bundled sample stream, on a virtual clock.

Events are fed day by day as they occurred; after each day the timer sweep fires the
time-based transitions that fell due (review request 3 days after delivery, 60 days
without an event, ...), and the actions due by then are dispatched to the outbox folder:
real .eml, .txt and .webhook.json files, one per message. The same functions run in
production; only the clock is virtual, and the channels are the outbox.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select

from channels.links import LinkSigner
from channels.message import ChannelKind
from channels.outbox import INDEX_DIR, OutboxChannel
from channels.protocol import Channel
from channels.render import Renderer
from channels.render_settings import RenderSettings
from channels.settings import ChannelSettings
from journeys import Journey
from journeys.config import templates_dir
from journeys.model import WebhookAction
from journeys.store import (
    BatchResult,
    FunnelRow,
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
    stage_funnel,
)
from journeys.store.tables import action_run_t

from .demo_journeys import demo_journeys
from .demo_rules import CountingRules
from .dispatch import DispatchSummary, dispatch_due
from .events_file import BadLines, EventsFileError, OnError, read_events_file
from .importing import ImportSummary, import_file
from .sample_data import SAMPLE_PATH
from .sample_people import SAMPLE_CONSENT, SAMPLE_CUSTOMERS

# Long enough after the last event for the 60-day re-engagement timers to fire.
RUN_ON = timedelta(days=75)
# When each day's due messages are dispatched: 10:00 UTC the next morning.
DISPATCH_AT = timedelta(days=1, hours=10)


@dataclass
class DemoReport:
    database: Path
    journeys: list[Journey]
    result: BatchResult
    days: int
    funnel: list[FunnelRow]
    actions: Counter[tuple[str, str, str, str]] = field(default_factory=Counter)
    outbox: Path | None = None
    dispatch: DispatchSummary = field(default_factory=DispatchSummary)
    bad_lines: BadLines = field(default_factory=BadLines)
    # What was imported before the replay (customers, consent), and what the send
    # rules held back: ("skipped" | "deferred", reason) -> actions.
    imported: list[ImportSummary] = field(default_factory=list)
    held: Counter[tuple[str, str]] = field(default_factory=Counter)
    replaced: bool = False  # an earlier demo's database and outbox were replaced
    chosen_by: str = "given"  # who chose the journeys it ran (see demo_journeys)


def _by_day(events: Iterable[IncomingEvent]) -> dict[datetime, list[IncomingEvent]]:
    days: dict[datetime, list[IncomingEvent]] = {}
    for event in events:
        midnight = event.occurred_at.replace(hour=0, minute=0, second=0, microsecond=0)
        days.setdefault(midnight, []).append(event)
    return days


def run_demo(
    database: Path,
    events_file: Path = SAMPLE_PATH,
    journeys: list[Journey] | None = None,
    batch_size: int = 500,
    outbox: Path | None = None,
    on_error: OnError = "stop",
    customers: Path | None = None,
    consent: Path | None = None,
) -> DemoReport:
    """Replay the sample stream into a fresh SQLite database and report what happened.

    Messages go to `outbox` (default: an `outbox` folder next to the database), which
    is emptied of earlier demo messages first. `customers` and `consent` are imported
    first, as a team moving to journeyflow would (for the bundled sample: the sample's
    own files); the send rules then decide on that consent, as in production.
    """
    # Chosen first: a setting naming no journey leaves the earlier results alone.
    chosen_by = "given"
    if journeys is None:
        journeys, chosen_by = demo_journeys()
    database.parent.mkdir(parents=True, exist_ok=True)
    replaced = database.exists()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    outbox = outbox if outbox is not None else database.parent / "outbox"
    _clean_outbox(outbox)
    engine = create_db_engine(f"sqlite:///{database}")
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, journeys)

    bad = BadLines()
    days = _by_day(read_events_file(events_file, on_error=on_error, bad=bad))
    if not days:
        skipped = f" ({bad.count} bad line(s) skipped)" if bad.count else ""
        raise EventsFileError(f"{events_file}: no events to replay{skipped}")
    if events_file == SAMPLE_PATH and customers is None and consent is None:
        customers, consent = SAMPLE_CUSTOMERS, SAMPLE_CONSENT
    imported = []
    if customers is not None:
        imported.append(import_file("customers", customers, engine, now=min(days)))
    if consent is not None:
        imported.append(import_file("consent", consent, engine, now=min(days)))
    rules = CountingRules()
    clock = _Clock(min(days))
    channels = _outbox_channels(outbox, clock)
    renderer = _renderer(journeys)
    sent = DispatchSummary()
    total = BatchResult()
    first, last = min(days), max(days)
    day, count = first, 0
    while day <= last + RUN_ON:
        end_of_day = day + timedelta(days=1) - timedelta(microseconds=1)
        todays = days.get(day, [])
        for start in range(0, len(todays), batch_size):
            with session_scope(engine) as session:
                total += apply_events(
                    session, registry, todays[start : start + batch_size], end_of_day
                )
        while True:
            with session_scope(engine) as session:
                swept = advance_timers(session, registry, end_of_day, limit=batch_size)
            total += swept
            if swept.timers < batch_size:
                break
        # Dispatched in the next morning's business hours: at the end of the day it is
        # night in the customers' time zones, and quiet hours would defer every message.
        clock.now = day + DISPATCH_AT
        sent += dispatch_due(
            engine, registry, channels, renderer, clock.now, worker="demo", policy=rules
        )
        day += timedelta(days=1)
        count += 1

    with session_scope(engine, readonly=True) as session:
        funnel = stage_funnel(session)
        a = action_run_t
        # Why an action was skipped or failed: a holdout and a customer who moved on
        # before the message was due are both "skipped", for different reasons.
        why = case((a.c.status.in_(("skipped", "failed")), a.c.last_error), else_="")
        rows: Any = session.execute(
            select(a.c.journey, a.c.kind, a.c.status, why, func.count()).group_by(
                a.c.journey, a.c.kind, a.c.status, why
            )
        ).all()
    engine.dispose()
    actions: Counter[tuple[str, str, str, str]] = Counter(
        {(journey, kind, status, reason or ""): n for journey, kind, status, reason, n in rows}
    )
    report = DemoReport(database, journeys, total, count, funnel, actions, outbox, sent, bad)
    report.replaced, report.chosen_by = replaced, chosen_by
    report.imported, report.held = imported, rules.held()
    return report


class _Clock:
    """The virtual time the outbox files are dated with."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _clean_outbox(outbox: Path) -> None:
    # Only what an outbox writes (day folders and its index): a folder given by mistake
    # keeps everything else.
    if not outbox.is_dir():
        return
    for entry in outbox.iterdir():
        if entry.is_dir() and (entry.name == INDEX_DIR or _DAY_DIR.match(entry.name)):
            shutil.rmtree(entry)


def _outbox_channels(outbox: Path, clock: _Clock) -> dict[str, Channel]:
    kinds: tuple[ChannelKind, ...] = ("email", "sms", "webhook")
    # The demo's outbox is recreated on every run: waiting for the disk on each of
    # thousands of files would only slow it down.
    return {kind: OutboxChannel(outbox, kind=kind, now=clock, durable=False) for kind in kinds}


def _renderer(journeys: list[Journey]) -> Renderer:
    settings = RenderSettings.from_env()
    # Named webhook endpoints nobody configured get a placeholder URL: in the demo they
    # only land in the outbox anyway.
    named = {
        action.webhook
        for journey in journeys
        for stage in journey.stages
        for action in stage.on_enter
        if isinstance(action, WebhookAction) and "://" not in action.webhook
    }
    placeholders = {name: f"https://webhooks.example/{name}" for name in sorted(named)}
    settings = replace(settings, webhooks={**placeholders, **settings.webhooks})
    secret = os.environ.get("JOURNEYFLOW_LINK_SECRET")
    if secret:
        signer = LinkSigner.from_env()
    else:
        # A secret for this run only: demo links need not stay valid afterwards.
        base = os.environ.get("JOURNEYFLOW_PUBLIC_URL", "http://127.0.0.1:8000")
        signer = LinkSigner(secrets.token_urlsafe(32), base)
    return Renderer(templates_dir(), signer, settings, ChannelSettings())
