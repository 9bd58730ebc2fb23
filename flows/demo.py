"""The demo: the shipped journeys over the bundled sample stream, on a virtual clock.

Events are fed day by day as they occurred; after each day the timer sweep fires the
time-based transitions that fell due (review request 3 days after delivery, 60 days
without an event, ...), and the actions due by then are dispatched to the outbox folder:
real .eml, .txt and .webhook.json files, one per message. The same functions run in
production; only the clock is virtual, and the channels are the outbox.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select

from channels.outbox import INDEX_DIR
from journeys import Journey
from journeys.store import (
    BatchResult,
    FunnelRow,
    JourneyRegistry,
    create_db_engine,
    create_schema,
    session_scope,
    stage_funnel,
)
from journeys.store.tables import action_run_t

from .demo_journeys import demo_journeys
from .demo_kpis import demo_period
from .demo_reactions import Audience
from .demo_rules import CountingRules
from .dispatch import DispatchSummary
from .events_file import BadLines, EventsFileError, OnError, read_events_file
from .importing import ImportSummary, import_file
from .insight import Insight, collect_insight
from .replay import Clock, by_day, outbox_channels, replay, replay_renderer
from .sample_data import SAMPLE_PATH
from .sample_people import SAMPLE_CONSENT, SAMPLE_CUSTOMERS


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
    # The closing report (see demo_kpis.demo_period), what the sample's customers did
    # with their messages (demo_reactions), and the HTML page written next to the database.
    insight: Insight | None = None
    reactions: Counter[str] = field(default_factory=Counter)
    html: Path | None = None


def report_path(database: Path) -> Path:
    """Where the demo writes its HTML report: next to its database."""
    return database.with_name(f"{database.stem}-report.html")


def run_demo(
    database: Path,
    events_file: Path = SAMPLE_PATH,
    journeys: list[Journey] | None = None,
    batch_size: int = 500,
    outbox: Path | None = None,
    on_error: OnError = "stop",
    customers: Path | None = None,
    consent: Path | None = None,
    html: bool = True,
) -> DemoReport:
    """Replay the sample stream into a fresh SQLite database and report what happened.

    Messages go to `outbox` (default: an `outbox` folder next to the database), which
    is emptied of earlier demo messages first. `customers` and `consent` are imported
    first, as a team moving to journeyflow would (for the bundled sample: the sample's
    own files); the send rules then decide on that consent, as in production. At the
    end the report of the run is computed and (with `html`) written as an HTML page
    next to the database (`report_path`).
    """
    # Chosen first: a setting naming no journey leaves the earlier results alone.
    chosen_by = "given"
    if journeys is None:
        journeys, chosen_by = demo_journeys()
    database.parent.mkdir(parents=True, exist_ok=True)
    replaced = database.exists()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    report_path(database).unlink(missing_ok=True)  # an earlier run's page
    outbox = outbox if outbox is not None else database.parent / "outbox"
    _clean_outbox(outbox)
    engine = create_db_engine(f"sqlite:///{database}")
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, journeys)

    bad = BadLines()
    days = by_day(read_events_file(events_file, on_error=on_error, bad=bad))
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
    clock = Clock(min(days))
    audience = Audience(engine)
    done = replay(
        engine,
        registry,
        days,
        outbox_channels(outbox, clock),
        replay_renderer(journeys),
        clock,
        rules,
        batch_size=batch_size,
        audience=audience,
    )

    last = max(e.occurred_at for e in days[max(days)])
    since, until = demo_period(min(days), last, clock.now)
    with session_scope(engine, readonly=True) as session:
        insight = collect_insight(session, since=since, until=until, database=str(database))
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
    report = DemoReport(
        database, journeys, done.result, done.days, funnel, actions, outbox, done.dispatch, bad
    )
    report.replaced, report.chosen_by = replaced, chosen_by
    report.imported, report.held = imported, rules.held()
    report.insight, report.reactions = insight, audience.counts
    if html:
        from .report_html import write_html

        report.html = write_html(insight, report_path(database))
    return report


_DAY_DIR = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _clean_outbox(outbox: Path) -> None:
    # Only what an outbox writes (day folders and its index): a folder given by mistake
    # keeps everything else.
    if not outbox.is_dir():
        return
    for entry in outbox.iterdir():
        if entry.is_dir() and (entry.name == INDEX_DIR or _DAY_DIR.match(entry.name)):
            shutil.rmtree(entry)
