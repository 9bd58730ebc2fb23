"""What the scheduled jobs run, without Prefect: the store made ready once, the batch loops.

`flows.jobs` wraps these in Prefect flows and tasks; `run_once` in that module and the
tests call them directly. A process (a worker's flow-run subprocess, `serve`, a test)
validates and registers the journeys and brings the schema up to date once per
database, and builds its channels and renderer once, so the batches after the first
pay for none of that.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from channels.base import build_channels, close_channels
from channels.errors import RetryableSendError
from channels.links import LinkSigner
from channels.protocol import Channel
from channels.render import Renderer
from journeys.config import definitions_dir, templates_dir
from journeys.errors import UnknownJourneyError
from journeys.model import Journey
from journeys.store import (
    BatchResult,
    JourneyRegistry,
    advance_timers,
    create_schema,
    database_url,
    get_engine,
    process_inbox,
    session_scope,
)
from journeys.store.outbox.claims import OUTCOME_STATUSES
from journeys.validate import enabled, load_journeys

from .dispatch import DispatchSummary, dispatch_due
from .send_rules import SendRules


@dataclass
class Store:
    """One database, its schema current, and the journeys this process runs registered."""

    engine: Engine
    journeys: tuple[Journey, ...]
    registry: JourneyRegistry
    # Registries limited to some journeys (the re-engagement sweep), by their keys.
    subsets: dict[tuple[str, ...], JourneyRegistry] = field(default_factory=dict)

    def registry_for(self, keys: Iterable[str] | None) -> JourneyRegistry:
        """The registry whose `keys` are these journeys; all of them when None or empty."""
        wanted = tuple(sorted(set(keys or ())))
        if not wanted:
            return self.registry
        with _lock:
            subset = self.subsets.get(wanted)
            if subset is None:
                known = {j.journey: j for j in self.journeys}
                for key in wanted:
                    if key not in known:
                        raise UnknownJourneyError(key, known)
                subset = JourneyRegistry()
                # Already stored with the same checksum: this only reads the versions back.
                with session_scope(self.engine) as session:
                    subset.register(session, [known[k] for k in wanted])
                self.subsets[wanted] = subset
            return subset


_lock = threading.RLock()
_stores: dict[tuple[str, Path, Path], Store] = {}
_senders: list[Sender] = []


def open_store(url: str | None = None) -> Store:
    """The store for `url` (default: JOURNEYFLOW_DATABASE_URL), made ready once per process.

    The journeys come from JOURNEYFLOW_JOURNEYS (default: the shipped definitions) and are
    validated with the templates, so a broken definition fails the first run loudly
    instead of failing its actions one by one.
    """
    key = (database_url(url), definitions_dir(), templates_dir())
    with _lock:
        store = _stores.get(key)
        if store is None:
            engine = get_engine(key[0])
            create_schema(engine)
            journeys = tuple(enabled(load_journeys([key[1]], key[2])))
            registry = JourneyRegistry()
            with session_scope(engine) as session:
                registry.register(session, journeys)
            store = _stores[key] = Store(engine, journeys, registry)
        return store


def open_sender() -> Sender:
    """The channels and the renderer, built from the environment once per process."""
    with _lock:
        if not _senders:
            _senders.append(Sender.from_env())
        return _senders[0]


def forget() -> None:
    """Drop what `open_store` and `open_sender` cached (tests that change the environment)."""
    with _lock:
        _stores.clear()
        while _senders:
            _senders.pop().close()


def wall_clock() -> datetime:
    return datetime.now(UTC)


# --- one batch each; the flows make a task run of every call ----------------------------


def ingest_batch(store: Store, now: datetime, limit: int) -> BatchResult:
    """Apply up to `limit` inbox events, oldest first, in one transaction."""
    with session_scope(store.engine) as session:
        return process_inbox(session, store.registry, now, limit=limit)


def timers_batch(
    store: Store, now: datetime, limit: int, journeys: Iterable[str] | None = None
) -> BatchResult:
    """Fire up to `limit` time-based transitions due by `now`, in one transaction."""
    registry = store.registry_for(journeys)
    with session_scope(store.engine) as session:
        return advance_timers(session, registry, now, limit=limit)


@dataclass
class Sender:
    """What dispatch needs besides the store, built once per flow run from the environment."""

    channels: Mapping[str, Channel]
    renderer: Renderer

    @classmethod
    def from_env(cls) -> Sender:
        channels: dict[str, Channel] = {kind: c for kind, c in build_channels().items()}
        return cls(channels, Renderer(templates_dir(), LinkSigner.from_env()))

    def close(self) -> None:
        close_channels(self.channels)


def dispatch_batch(
    store: Store,
    sender: Sender,
    now: datetime,
    *,
    batch_size: int,
    virtual: bool,
    lease: timedelta,
    max_attempts: int,
    concurrency: int,
    clock: Callable[[], datetime] = wall_clock,
) -> DispatchSummary:
    """Claim, send and record at most one batch of due actions.

    On the wall clock (`virtual` false; `clock`, by default the real one) leases count
    from the claim and are renewed at every chunk; a virtual `now` (replays, tests) is
    used for everything.
    """
    return dispatch_due(
        store.engine,
        store.registry,
        sender.channels,
        sender.renderer,
        now,
        batch_size=batch_size,
        lease=lease,
        max_attempts=max_attempts,
        concurrency=concurrency,
        max_batches=1,
        policy=SendRules(),
        clock=None if virtual else clock,
    )


def drain(
    step: Callable[[], BatchResult],
    batch_size: int,
    max_batches: int,
    done: Callable[[BatchResult], int],
) -> tuple[BatchResult, int]:
    """Run `step` until a batch comes back short (`done(result) < batch_size`) or the cap.

    Returns the sum and the number of batches that found work. The cap keeps one run
    bounded; whatever is left waits for the next scheduled run.
    """
    total, batches = BatchResult(), 0
    for _ in range(max_batches):
        result = step()
        total += result
        if done(result):
            batches += 1
        if done(result) < batch_size:
            break
    return total, batches


def drain_outbox(
    step: Callable[[], DispatchSummary], batch_size: int, max_batches: int
) -> DispatchSummary:
    """`drain` for dispatch: claim batch after batch until one comes back short."""
    total = DispatchSummary()
    while total.batches < max_batches:
        batch = step()
        total += batch
        if batch.claimed < batch_size:
            break
    return total


# --- summaries ------------------------------------------------------------------------------


def batch_counts(result: BatchResult, batches: int) -> dict[str, int]:
    return {"batches": batches, **result.as_dict()}


def dispatch_counts(summary: DispatchSummary) -> dict[str, int]:
    """Every outcome with its count (zeros included, so runs compare column by column)."""
    counts = {"batches": summary.batches, "claimed": summary.claimed}
    counts.update({status: summary.outcomes[status] for status in OUTCOME_STATUSES})
    counts["stale"] = summary.stale
    counts.update({f"recovered_{k}": n for k, n in sorted(summary.recovered.items())})
    return counts


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_summary(
    title: str,
    counts: Mapping[str, int],
    summary: DispatchSummary | None = None,
    reasons: int = 10,
) -> str:
    """A Markdown report of one run: counts per outcome, and for dispatch per channel."""
    lines = [f"### {title}", "", "| outcome | count |", "|---|---:|"]
    lines += [f"| {_cell(name)} | {n} |" for name, n in counts.items()]
    if summary is not None and summary.by_channel:
        lines += ["", "| channel | outcome | count |", "|---|---|---:|"]
        lines += [
            f"| {kind} | {status} | {n} |"
            for (kind, status), n in sorted(summary.by_channel.items())
        ]
    if summary is not None and summary.reasons:
        lines += ["", "| reason (failed or skipped) | count |", "|---|---:|"]
        lines += [f"| {_cell(r)} | {n} |" for r, n in summary.reasons.most_common(reasons)]
    return "\n".join(lines) + "\n"


# --- what is worth retrying -------------------------------------------------------------------

# PostgreSQL: serialization failure, deadlock, lock not available, and connection exceptions
# (class 08) or a server shutting down (57P01-57P03): the transaction rolled back whole.
_TRANSIENT_SQLSTATES = frozenset({"40001", "40P01", "55P03", "57P01", "57P02", "57P03"})
_SQLITE_BUSY = ("database is locked", "database is busy", "database table is locked")


def is_transient(exc: BaseException) -> bool:
    """True for failures that a second attempt of the same batch may not meet.

    Every batch is one transaction and every send is guarded by its claim, so repeating
    a batch that failed this way repeats no effect.
    """
    if isinstance(exc, RetryableSendError):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if isinstance(sqlstate, str) and (
            sqlstate in _TRANSIENT_SQLSTATES or sqlstate.startswith("08")
        ):
            return True
        message = str(orig).lower()
        return any(text in message for text in _SQLITE_BUSY)
    return False
