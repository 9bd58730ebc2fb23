"""Ingest benchmark: events/s through engine + store, against the raw sqlite3 floor.

    python -m bench.ingest [--events N] [--batch 1000] [--journey five_phases] [--profile]

N synthetic events for about N/5 customers go through `apply_events` in batches on a
fresh SQLite file, with the shipped `five_phases` journey (or `--journey bench`: five
stages with an event trigger and an email each). Then the floor: the same writes per
event (inbox insert, stage update, history insert, outbox insert, plus a customer and
an enrollment per new customer) with plain `sqlite3.executemany`, same tables and
indexes, one transaction per batch. The ratio journeyflow/floor is the price of reading
state, deciding with the engine and writing through SQLAlchemy, over the bare writes.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from journeys.config import definitions_dir
from journeys.loader import load_journey
from journeys.model import EventTrigger, Journey
from journeys.store import (
    BatchResult,
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)

# Five stages, an event trigger and an email each: the shape of the shipped journeys.
BENCH_JOURNEY = Journey.model_validate(
    {
        "journey": "bench_lifecycle",
        "version": 1,
        "name": "Benchmark lifecycle",
        "stages": [
            {"key": key, "enter_when": {"event": event}, "on_enter": [{"email": f"{key}_mail"}]}
            for key, event in [
                ("information", "page.viewed"),
                ("comparison", "product.compared"),
                ("decision", "cart.updated"),
                ("purchase", "order.completed"),
                ("evaluation", "review.submitted"),
            ]
        ],
    }
)

START = datetime(2026, 1, 1, tzinfo=UTC)


def pick_journey(name: str) -> Journey:
    """`bench`, or the key of a shipped journey in journeys/definitions."""
    if name == "bench":
        return BENCH_JOURNEY
    return load_journey(definitions_dir() / f"{name}.yaml")


def stage_events(journey: Journey) -> list[tuple[str, str]]:
    """(stage, event type) in stage order: the first event trigger of each stage."""
    pairs = []
    for stage in journey.stages:
        events = [t.event for t in stage.enter_when if isinstance(t, EventTrigger)]
        if events:
            pairs.append((stage.key, events[0]))
    return pairs


def synthetic_events(journey: Journey, n: int, seed: int = 7) -> list[IncomingEvent]:
    """n events for ~n/5 customers, in time order; mostly forward through the stages."""
    stages = stage_events(journey)
    rng = random.Random(seed)
    customers = max(1, n // 5)
    progress = [0] * customers
    events: list[IncomingEvent] = []
    for i in range(n):
        c = rng.randrange(customers)
        step = progress[c]
        stage = min(step, len(stages) - 1) if rng.random() < 0.8 else rng.randrange(len(stages))
        progress[c] = step + 1
        events.append(
            IncomingEvent(
                source="bench",
                external_id=f"e{i}",
                type=stages[stage][1],
                customer_id=f"c{c}",
                occurred_at=START + timedelta(seconds=10 * i),
                data={"n": i, "total": rng.randrange(1000), "rating": rng.randint(1, 5)},
                customer={"email": f"c{c}@example.com", "first_name": "Kim", "country": "DE"}
                if step == 0
                else None,
            )
        )
    return events


def batches(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_journeyflow(
    journey: Journey, events: list[IncomingEvent], folder: Path, size: int
) -> tuple[float, BatchResult]:
    engine = create_db_engine(f"sqlite:///{folder / 'journeyflow.db'}")
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [journey])
    total = BatchResult()
    began = time.perf_counter()
    for part in batches(events, size):
        now = part[-1].occurred_at
        with session_scope(engine) as session:
            total = total + apply_events(session, registry, part, now)
    elapsed = time.perf_counter() - began
    engine.dispose()
    return elapsed, total


def _ts(value: datetime) -> str:
    return value.isoformat(" ", "microseconds")[:26]


def run_floor(journey: Journey, events: list[IncomingEvent], folder: Path, size: int) -> float:
    """The same rows with plain sqlite3: no engine, no SQLAlchemy, no reads."""
    path = folder / "floor.db"
    engine = create_db_engine(f"sqlite:///{path}")
    create_schema(engine)  # same tables, constraints and indexes
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [journey])
    engine.dispose()
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    stage_of = {event: key for key, event in stage_events(journey)}
    key, version = journey.journey, journey.version
    customers: dict[str, tuple[int, int]] = {}  # external id -> (customer id, enrollment id)
    entries: dict[str, int] = {}
    next_customer = next_enrollment = 1
    began = time.perf_counter()
    for part in batches(events, size):
        now = _ts(part[-1].occurred_at)
        new_customers, new_enrollments, inbox, updates, history, outbox = [], [], [], [], [], []
        for e in part:
            at = _ts(e.occurred_at)
            stage = stage_of[e.type]
            if e.customer_id not in customers:
                customers[e.customer_id] = (next_customer, next_enrollment)
                new_customers.append(
                    (next_customer, e.customer_id, f"{e.customer_id}@example.com", now, now)
                )
                new_enrollments.append(
                    (next_enrollment, next_customer, key, version, stage, at, at, at, at)
                )
                next_customer += 1
                next_enrollment += 1
            cid, eid = customers[e.customer_id]
            entry = entries[e.customer_id] = entries.get(e.customer_id, 0) + 1
            inbox.append(
                (e.source, e.external_id, e.type, e.customer_id, at, json.dumps(e.data), now, now)
            )
            updates.append((stage, entry, at, at, eid))
            history.append((eid, key, cid, stage, entry, f"event:{e.event_id}", at))
            outbox.append((f"k{e.external_id}", eid, key, cid, stage, entry, "email", at, now, now))
        db.execute("BEGIN IMMEDIATE")
        db.executemany(
            "INSERT INTO customer (id, external_id, email, attributes, created_at, updated_at)"
            " VALUES (?, ?, ?, '{}', ?, ?)",
            new_customers,
        )
        db.executemany(
            "INSERT INTO enrollment (id, customer_id, journey, version, number, stage, status,"
            " entered_at, stage_entered_at, stage_entry, last_event_at, timer_due_at)"
            " VALUES (?, ?, ?, ?, 1, ?, 'active', ?, ?, 0, ?, ?)",
            new_enrollments,
        )
        db.executemany(
            "INSERT INTO inbound_event (source, external_id, type, customer_id, occurred_at,"
            " payload, received_at, processed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            inbox,
        )
        db.executemany(
            "UPDATE enrollment SET stage = ?, stage_entry = ?, stage_entered_at = ?,"
            " last_event_at = ? WHERE id = ?",
            updates,
        )
        db.executemany(
            "INSERT INTO stage_transition (enrollment_id, journey, customer_id, to_stage,"
            " stage_entry, cause, at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            history,
        )
        db.executemany(
            "INSERT INTO action_run (idempotency_key, enrollment_id, journey, customer_id, stage,"
            " stage_entry, action_key, kind, params, due_at, status, attempts, cancel_on_leave,"
            " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'mail', ?, '{}', ?, 'pending',"
            " 0, 0, ?, ?)",
            outbox,
        )
        db.execute("COMMIT")
    elapsed = time.perf_counter() - began
    db.close()
    return elapsed


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--journey", default="five_phases", help="a shipped journey's key, or 'bench'"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile the journeyflow run")
    args = parser.parse_args(argv)

    journey = pick_journey(args.journey)
    events = synthetic_events(journey, args.events)
    customers = len({e.customer_id for e in events})
    print(
        f"{len(events)} events, {customers} customers, batches of {args.batch}, "
        f"journey {journey.journey} v{journey.version}"
    )
    with tempfile.TemporaryDirectory(prefix="journeyflow-bench-") as tmp:
        folder = Path(tmp)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
        elapsed, result = run_journeyflow(journey, events, folder, args.batch)
        if args.profile:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        ours = len(events) / elapsed
        print(f"journeyflow: {ours:10,.0f} events/s  ({elapsed:.2f} s; {result})")
        floor_elapsed = run_floor(journey, events, folder, args.batch)
        floor = len(events) / floor_elapsed
        print(f"sqlite3 floor: {floor:8,.0f} events/s  ({floor_elapsed:.2f} s)")
        ratio = ours / floor
        verdict = "ok" if ratio >= 0.125 else "below the 1/8 goal"
        print(f"ratio journeyflow/floor: {ratio:.3f} (1/{1 / ratio:.1f}; goal >= 0.125: {verdict})")


if __name__ == "__main__":
    main()
