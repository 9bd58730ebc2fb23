"""Replaying a stream of events day by day on a virtual clock, on any store.

Each day's events are applied as they occurred; then the timer sweep fires the
time-based transitions that fell due (a review request 3 days after delivery, 60 days
without an event, ...), and the actions due by then are dispatched the next morning:
the production functions (`apply_events`, `advance_timers`, `dispatch_due` with the
send rules), only the clock is virtual. The demo replays the bundled sample into
SQLite; tests replay into PostgreSQL too.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol, TypeVar

from sqlalchemy import Engine

from channels.links import LinkSigner
from channels.message import ChannelKind
from channels.outbox import OutboxChannel
from channels.protocol import Channel
from channels.render import Renderer
from channels.render_settings import RenderSettings
from channels.settings import ChannelSettings
from journeys import Journey
from journeys.config import templates_dir
from journeys.model import WebhookAction
from journeys.store import (
    BatchResult,
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    session_scope,
)
from journeys.store.state.batch import Observer

from .dispatch import DispatchSummary, Policy, dispatch_due

# Long enough after the last event for the 60-day re-engagement timers to fire.
RUN_ON = timedelta(days=75)
# When each day's due messages are dispatched: 10:00 UTC the next morning.
DISPATCH_AT = timedelta(days=1, hours=10)


class Clock:
    """The virtual time the dispatcher and the outbox files go by."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Audience(Protocol):
    """Who answers the messages in a replay (the demo's customers: `demo_reactions`)."""

    def before_day(self, events: Sequence[IncomingEvent]) -> list[IncomingEvent]: ...

    def after_dispatch(self, now: datetime) -> None: ...


@dataclass
class Replayed:
    result: BatchResult = field(default_factory=BatchResult)
    dispatch: DispatchSummary = field(default_factory=DispatchSummary)
    days: int = 0


def by_day(events: Iterable[IncomingEvent]) -> dict[datetime, list[IncomingEvent]]:
    """Events grouped by the midnight (UTC) of the day they occurred."""
    days: dict[datetime, list[IncomingEvent]] = {}
    for event in events:
        midnight = event.occurred_at.replace(hour=0, minute=0, second=0, microsecond=0)
        days.setdefault(midnight, []).append(event)
    return days


def replay(
    engine: Engine,
    registry: JourneyRegistry,
    days: Mapping[datetime, list[IncomingEvent]],
    channels: Mapping[str, Channel],
    renderer: Renderer,
    clock: Clock,
    policy: Policy,
    *,
    batch_size: int = 500,
    run_on: timedelta = RUN_ON,
    audience: Audience | None = None,
) -> Replayed:
    """Apply, sweep and dispatch day by day from the first event's day to `run_on`
    after the last one; `clock` is moved along (the channels date their files by it).
    An `audience` sees each day's events before they are applied and reacts to what
    was sent after each dispatch."""
    done = Replayed()
    day, last = min(days), max(days)
    while day <= last + run_on:
        end_of_day = day + timedelta(days=1) - timedelta(microseconds=1)
        todays = days.get(day, [])
        if audience is not None and todays:
            todays = audience.before_day(todays)
        done.result += apply_and_sweep(engine, registry, todays, end_of_day, batch_size=batch_size)
        # Dispatched in the next morning's business hours: at the end of the day it is
        # night in the customers' time zones, and quiet hours would defer every message.
        done.dispatch += dispatch_at(
            engine, registry, channels, renderer, clock, policy, day + DISPATCH_AT
        )
        if audience is not None:
            audience.after_dispatch(clock.now)
        day += timedelta(days=1)
        done.days += 1
    return done


def apply_and_sweep(
    engine: Engine,
    registry: JourneyRegistry,
    events: Sequence[IncomingEvent],
    until: datetime,
    *,
    batch_size: int = 500,
    observe: Observer | None = None,
) -> BatchResult:
    """One step of a replay: `events` applied as they occurred, a batch per transaction,
    then the timers due by `until` fired. `observe` sees the engine's decisions."""
    result = BatchResult()
    for start in range(0, len(events), batch_size):
        with session_scope(engine) as session:
            part = events[start : start + batch_size]
            result += apply_events(session, registry, part, until, observe=observe)
    while True:
        with session_scope(engine) as session:
            swept = advance_timers(session, registry, until, limit=batch_size, observe=observe)
        result += swept
        if swept.timers < batch_size:
            return result


def dispatch_at(
    engine: Engine,
    registry: JourneyRegistry,
    channels: Mapping[str, Channel],
    renderer: Renderer,
    clock: Clock,
    policy: Policy,
    at: datetime,
    *,
    batch_size: int = 200,
) -> DispatchSummary:
    """The dispatcher's run at `at` on the virtual clock, with the given send rules."""
    clock.now = at
    return dispatch_due(
        engine,
        registry,
        channels,
        renderer,
        at,
        worker="replay",
        policy=policy,
        batch_size=batch_size,
    )


def outbox_channels(outbox: Path, clock: Clock) -> dict[str, Channel]:
    kinds: tuple[ChannelKind, ...] = ("email", "sms", "webhook")
    # A replay's outbox is recreated on every run: waiting for the disk on each of
    # thousands of files would only slow it down.
    return {kind: OutboxChannel(outbox, kind=kind, now=clock, durable=False) for kind in kinds}


R = TypeVar("R", bound=Renderer)


def replay_renderer(
    journeys: Iterable[Journey],
    templates: Path | None = None,
    kind: type[R] = Renderer,  # type: ignore[assignment]
) -> R:
    """A renderer for a replay or a scenario run: `templates` (default: the configured
    folder), every named webhook endpoint resolved, links signed for this run."""
    journeys = list(journeys)
    settings = RenderSettings.from_env()
    # Named webhook endpoints nobody configured get a placeholder URL: in a replay they
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
        # A secret for this run only: replayed links need not stay valid afterwards.
        base = os.environ.get("JOURNEYFLOW_PUBLIC_URL", "http://127.0.0.1:8000")
        signer = LinkSigner(secrets.token_urlsafe(32), base)
    folder = templates if templates is not None else templates_dir()
    return kind(folder, signer, settings, ChannelSettings())
