"""The simulation's clock: customers and their events through the production path.

Tick by tick on a virtual clock: the customers who appear are written to the store
with the consent on record (the import's store functions), the tick's events are
applied and the timers swept (`replay.apply_and_sweep`, the demo's own step, with
the engine's decisions passed back to the population so that customers react to the
stages they enter), and the dispatcher runs (`replay.dispatch_at`) with the
production send rules and renderer, to channels that count. What a reaction
schedules inside the same tick is applied in the same tick. With the model's
`messages:`, what customers do with the messages (delivered, opened, clicked, survey
answers) is recorded at each day's end (`demo_reactions.Audience`).

The default cadence dispatches at the end of every hour (production dispatches every
minute; a message due in the last hour before quiet hours may therefore be deferred
where production would just have sent it). The demo's cadence is a day, dispatched at
10:00 the next morning: `Stream` runs the demo's recorded events through this same
loop (see tests/flows/simulation/test_demo_agreement.py).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import Engine, bindparam, select

from channels.protocol import Channel
from channels.render import Renderer
from journeys.decisions import Decision
from journeys.errors import JourneyflowError
from journeys.store import BatchResult, IncomingEvent, JourneyRegistry, session_scope
from journeys.store.people.importing import ConsentRow, Refused, import_consents, upsert_customers
from journeys.store.tables import action_run_t

from ..demo_reactions import Audience, Reactions
from ..dispatch import DispatchSummary
from ..replay import DISPATCH_AT, Clock, apply_and_sweep, dispatch_at
from .counting import CountingRules, HeldKey
from .people import Newcomer

DAY = timedelta(days=1)
# As many as the dispatcher's default concurrency.
SENDERS = 4
END_OF = timedelta(microseconds=1)


class SimulationError(JourneyflowError):
    """The store refused what the population made (a profile it cannot keep)."""


@dataclass(frozen=True)
class Cadence:
    """Events are applied a tick at a time; the dispatcher runs `dispatch_after` the
    tick's end."""

    tick: timedelta = timedelta(hours=1)
    dispatch_after: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        if self.tick <= timedelta(0) or DAY % self.tick:
            raise ValueError("the tick must divide a day: 1h, 15m, 1d, ...")


HOURLY = Cadence()
DEMO_CADENCE = Cadence(DAY, DISPATCH_AT - DAY)


def cadence_of(tick: timedelta) -> Cadence:
    """A tick's cadence: a day's is the demo's, dispatched at 10:00 the next morning.
    At midnight it is night in the customers' time zones: quiet hours would defer every
    message, day after day, and each one be claimed and released again."""
    return DEMO_CADENCE if tick == DAY else Cadence(tick)


class Source(Protocol):
    """Where a run's customers and events come from."""

    def arrivals(self, until: datetime) -> list[Newcomer]: ...

    def due(self, until: datetime) -> tuple[list[IncomingEvent], list[ConsentRow]]: ...

    def observe(self, decisions: Sequence[Decision]) -> None: ...


class Stream:
    """Recorded events by day (the demo's), as a source: their customers are imported
    before the run, and nothing reacts to the stages."""

    def __init__(self, days: Mapping[datetime, list[IncomingEvent]]) -> None:
        self._days = sorted(days.items())

    def arrivals(self, until: datetime) -> list[Newcomer]:
        return []

    def due(self, until: datetime) -> tuple[list[IncomingEvent], list[ConsentRow]]:
        events: list[IncomingEvent] = []
        while self._days and self._days[0][0] < until:
            events.extend(self._days.pop(0)[1])
        return events, []

    def observe(self, decisions: Sequence[Decision]) -> None:
        pass


@dataclass
class Day:
    """What one simulated day did: the engine's work, the dispatcher's, the rules'."""

    date: datetime
    result: BatchResult = field(default_factory=BatchResult)
    dispatch: DispatchSummary = field(default_factory=DispatchSummary)
    held: Counter[HeldKey] = field(default_factory=Counter)
    appeared: int = 0


@dataclass
class Run:
    start: datetime
    days: list[Day] = field(default_factory=list)
    customers: int = 0
    seconds: float = 0.0
    cpu: float = 0.0  # CPU seconds, in every process the run took
    others_peak_mb: float = 0.0  # the other processes' peak memory (shards), summed

    @property
    def end(self) -> datetime:
        return self.start + DAY * len(self.days)

    @property
    def events(self) -> int:
        return sum(d.result.events for d in self.days)


Progress = Callable[[Run], None]


def run(
    engine: Engine,
    registry: JourneyRegistry,
    source: Source,
    *,
    start: datetime,
    days: int,
    channels: Mapping[str, Channel],
    renderer: Renderer,
    rules: CountingRules,
    cadence: Cadence = HOURLY,
    batch_size: int = 1000,
    dispatch_batch: int = 1000,
    progress: Progress | None = None,
    reactions: Reactions | None = None,
) -> Run:
    """Run `days` days from `start` (a midnight, UTC); see the module docstring.
    `reactions`: what customers do with the messages sent, recorded at each day's end."""
    began, began_cpu = time.perf_counter(), time.process_time()
    done = Run(start)
    audience = None if reactions is None else Audience(engine, reactions)
    clock = Clock(start)
    ticks = DAY // cadence.tick
    # The dispatcher's sending threads, for the whole run rather than one set per tick.
    with ThreadPoolExecutor(SENDERS, thread_name_prefix="send") as pool:
        for number in range(days):
            day = Day(start + DAY * number)
            for step in range(ticks):
                until = day.date + cadence.tick * (step + 1)
                day.appeared += _arrive(engine, source, until, until - cadence.tick)
                day.result += _apply(engine, registry, source, until, batch_size)
                at = until + cadence.dispatch_after
                if not _anything_due(engine, at):
                    continue
                day.dispatch += dispatch_at(
                    *(engine, registry, channels, renderer, clock, rules, at),
                    batch_size=dispatch_batch,
                    pool=pool,
                )
            if audience is not None:
                # Reports and answers reach no journey: a day's at once is the same as
                # each dispatch's, for a transaction a day instead of one an hour.
                audience.after_dispatch(day.date + DAY + cadence.dispatch_after)
            day.held = rules.close_day()
            done.days.append(day)
            done.customers += day.appeared
            done.seconds = time.perf_counter() - began
            done.cpu = time.process_time() - began_cpu
            if progress is not None:
                progress(done)
    return done


def _arrive(engine: Engine, source: Source, until: datetime, now: datetime) -> int:
    newcomers = source.arrivals(until)
    if newcomers:
        _newcomers(engine, newcomers, now)
    return len(newcomers)


def _apply(
    engine: Engine, registry: JourneyRegistry, source: Source, until: datetime, batch_size: int
) -> BatchResult:
    result = BatchResult()
    events, consent = source.due(until)
    while True:
        _consent(engine, consent)
        result += apply_and_sweep(
            engine, registry, events, until - END_OF, batch_size=batch_size, observe=source.observe
        )
        # A reaction due inside this tick happens in this tick.
        events, consent = source.due(until)
        if not events:
            return result


def _newcomers(engine: Engine, newcomers: list[Newcomer], now: datetime) -> None:
    """Profiles and the consent on record, in one transaction, as an import writes them."""
    with session_scope(engine) as session:
        conn = session.connection()
        outcomes = upsert_customers(conn, [(c.external_id, c.fields) for c in newcomers], now)
        refused = [
            (c, o) for c, o in zip(newcomers, outcomes, strict=True) if isinstance(o, Refused)
        ]
        if refused:
            who, why = refused[0]
            raise SimulationError(f"customer {who.external_id}: {why.field}: {why.reason}")
        # Each newcomer's channel once: one batch.
        import_consents(conn, [row for c in newcomers for row in c.consent])


def _consent(engine: Engine, rows: list[ConsentRow]) -> None:
    """Consent records in the import's batches: a customer's channel once per batch."""
    while rows:
        batch: list[ConsentRow] = []
        later: list[ConsentRow] = []
        seen: set[tuple[str, str]] = set()
        for row in rows:
            key = (row.customer_id, row.channel)
            (later if key in seen else batch).append(row)
            seen.add(key)
        with session_scope(engine) as session:
            import_consents(session.connection(), batch)
        rows = later


_a = action_run_t
_DUE = select(_a.c.id).where(_a.c.status == "pending", _a.c.due_at <= bindparam("at")).limit(1)


def _anything_due(engine: Engine, at: datetime) -> bool:
    """Whether an action is due by `at` (the claim's own index): a dispatcher finding
    nothing would do nothing, so it is not asked."""
    with engine.connect() as conn:
        return conn.execute(_DUE, {"at": at}).first() is not None
