"""The demo: the shipped journeys over the bundled sample stream, on a virtual clock.

Events are fed day by day as they occurred; after each day the timer sweep fires the
time-based transitions that fell due (review request 3 days after delivery, 60 days
without an event, ...). The same functions run in production; only the clock is virtual.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from journeys import Journey, load_journeys
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

from .sample_data import SAMPLE_PATH, read_events

# Long enough after the last event for the 60-day re-engagement timers to fire.
RUN_ON = timedelta(days=75)


@dataclass
class DemoReport:
    database: Path
    journeys: list[Journey]
    result: BatchResult
    days: int
    funnel: list[FunnelRow]
    actions: Counter[tuple[str, str, str]] = field(default_factory=Counter)


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
) -> DemoReport:
    """Replay the sample stream into a fresh SQLite database and report what happened."""
    database.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{database}")
    create_schema(engine)
    journeys = journeys if journeys is not None else load_journeys()
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, journeys)

    days = _by_day(IncomingEvent.model_validate(raw) for raw in read_events(events_file))
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
        day += timedelta(days=1)
        count += 1

    with session_scope(engine, readonly=True) as session:
        funnel = stage_funnel(session)
        rows: Any = session.execute(
            select(
                action_run_t.c.journey, action_run_t.c.kind, action_run_t.c.status, func.count()
            ).group_by(action_run_t.c.journey, action_run_t.c.kind, action_run_t.c.status)
        ).all()
    engine.dispose()
    actions: Counter[tuple[str, str, str]] = Counter(
        {(journey, kind, status): n for journey, kind, status, n in rows}
    )
    return DemoReport(database, journeys, total, count, funnel, actions)
