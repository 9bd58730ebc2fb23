"""One measured dispatch: a prepared store, `dispatch_due` in one or several processes.

Several dispatcher processes over one store is how the design uses more than one
core: each claims its own batches (claims are disjoint, see `journeys.store.outbox.claims`),
and each sends a chunk only after marking it, so exactly-once holds as with one.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from channels.links import LinkSigner
from channels.protocol import Channel
from channels.render import Renderer
from flows.dispatch import allow_all, dispatch_due
from journeys.config import templates_dir
from journeys.loader import parse_journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEY = """\
journey: bench_dispatch
version: 1
name: Dispatch benchmark
locale: de
settings:
  sender: {email: service@beispielhandel.de, name: Beispielhandel}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter: [{%s: %s}]
    final: true
"""
TEMPLATES = {"email": "buying_guide", "sms": "setup_reminder"}
# Builds the channels inside the process that uses them: (folder, rate per process).
ChannelFactory = Callable[[Path, float | None], Mapping[str, Channel]]


def journey_source(kind: str) -> str:
    return JOURNEY % (kind, TEMPLATES[kind])


def prepare_store(folder: Path, kind: str, n: int) -> Path:
    """A store with `n` customers, each with one `kind` message due at T0; its file."""
    path = folder / f"{kind}-{n}.db"
    engine = create_db_engine(f"sqlite:///{path}")
    create_schema(engine)
    journey = parse_journey(journey_source(kind))[0]
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [journey])
    for start in range(0, n, 1000):
        customer = {"first_name": "Max", "locale": "de"}
        events = [
            IncomingEvent(
                source="bench",
                external_id=f"e{i}",
                type="account.created",
                customer_id=f"c{i}",
                occurred_at=T0,
                customer={**customer, "email": f"kunde{i}@example.org", "phone": f"+4915{i:09d}"},
            )
            for i in range(start, min(n, start + 1000))
        ]
        with session_scope(engine) as session:
            apply_events(session, registry, events, T0)
    engine.dispose()  # the last connection checkpoints the WAL: the file alone is the store
    return path


@dataclass
class Run:
    messages: int
    seconds: float
    processes: int
    concurrency: int

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def _dispatch(
    db: Path, kind: str, channels: ChannelFactory, folder: Path, rate: float | None, **kw: Any
) -> Callable[[], dict[str, int]]:
    engine = create_db_engine(f"sqlite:///{db}")
    journey = parse_journey(journey_source(kind))[0]
    renderer = Renderer(templates_dir(), LinkSigner("bench-secret-0123456789", "https://x"))
    built = channels(folder, rate)

    def run() -> dict[str, int]:
        summary = dispatch_due(
            engine, [journey], built, renderer, T0 + timedelta(minutes=1), policy=allow_all, **kw
        )
        for channel in built.values():
            channel.close()
        engine.dispose()
        return dict(summary.outcomes)

    return run


def _child(
    barrier: Any, results: Any, args: tuple[Any, ...], kw: dict[str, Any]
) -> None:  # pragma: no cover - runs in the dispatcher processes
    run = _dispatch(*args, **kw)
    barrier.wait()
    results.put(run())


def measure(
    template: Path,
    kind: str,
    channels: ChannelFactory,
    *,
    processes: int = 1,
    concurrency: int = 8,
    batch_size: int = 500,
    rate: float | None = None,
) -> Run:
    """Dispatch every message of a copy of `template`; `rate` is the limit for them all.

    What a run writes stays until the caller removes the template's folder: deleting
    thousands of files makes the disk slow for a while (discards), which would be
    charged to the next run.
    """
    folder = Path(tempfile.mkdtemp(dir=template.parent))
    db = folder / "store.db"
    shutil.copyfile(template, db)
    n = int(template.stem.rsplit("-", 1)[1])
    share = None if rate is None else rate / processes  # each process its part of it
    kw: dict[str, Any] = {"batch_size": batch_size, "concurrency": concurrency}
    args = (db, kind, channels, folder, share)
    # Start with no dirty pages of earlier runs (the store copies, the files of the run
    # before): their write-back would otherwise be charged to this run's file writes.
    os.sync()
    if processes == 1:
        run = _dispatch(*args, **kw)
        started = time.perf_counter()
        outcomes = [run()]
    else:
        ctx = multiprocessing.get_context("fork")
        barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
        workers = [
            ctx.Process(target=_child, args=(barrier, results, args, kw)) for _ in range(processes)
        ]
        # What the parent holds stays out of the children's garbage collections, which
        # would otherwise copy its pages (copy-on-write) while they are being timed.
        gc.freeze()
        try:
            for worker in workers:
                worker.start()
        finally:
            gc.unfreeze()
        barrier.wait()
        started = time.perf_counter()
        outcomes = [results.get(timeout=300) for _ in workers]
        for worker in workers:
            worker.join()
    seconds = time.perf_counter() - started
    sent = sum(o.get("sent", 0) for o in outcomes)
    if sent != n:
        raise SystemExit(f"only {sent} of {n} {kind} messages sent: {outcomes}")
    return Run(n, seconds, processes, concurrency)
