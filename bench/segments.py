"""Segment sweep benchmark: cost by changed customers, against a raw SQL full scan.

    python -m bench.segments [--customers N] [--changed K] [--repeat R]

A fresh SQLite store holds N customers (default 1,000,000) with attributes (country,
orders_total, last_order_at) and a journey entered by the segment

    customer.country == 'DE' and customer.orders_total >= 3
    and customer.last_order_at < now - 90d

Since the last sweep, K customers (default 1 % of N) changed or came due:

* changed: K `customer.updated` events (orders_total 2 -> 3) go through `apply_events`,
  which evaluates the segment for those customers only and enters them;
* came due: K customers' segment timers fell due (their last order is now 90 days
  old); the timer sweep (`advance_timers`) reads only the due timers and enters them.
  A third of the other customers also hold a timer, not yet due, as a real store would.

The floor, in the same run: a raw SQL scan of the customer table with the same predicate
(`json_extract`, one SELECT, no writes), which is what a sweep that rescans every
customer would cost at the least. Then the store is built again with 2 N customers and
the same K: our figures should stay about flat while the scan doubles.

Goal: the sweep's cost grows with the changed customers, not with all of them (2 N / N
of our times at most 1.3). Each figure is the best of R tries (3) over fresh copies of
the store, so a slow moment of the machine cannot flatter or spoil a ratio.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    create_db_engine,
    create_schema,
    dispose_engines,
    session_scope,
)

SEGMENT = (
    "customer.country == 'DE' and customer.orders_total >= 3 and customer.last_order_at < now - 90d"
)
JOURNEY = Journey.model_validate(
    {
        "journey": "winback",
        "version": 1,
        "name": "Win back",
        "stages": [
            {
                "key": "lapsed",
                "enter_when": {"segment": SEGMENT},
                "on_enter": [{"email": "we_miss_you"}],
            },
            {
                "key": "back",
                "enter_when": {"event": "order.completed", "from": ["lapsed"]},
                "final": True,
            },
        ],
    }
)
LAST_SWEEP = datetime(2026, 6, 1, tzinfo=UTC)
SWEEP = LAST_SWEEP + timedelta(hours=1)
RAW_SCAN = (
    "SELECT count(*) FROM customer WHERE country = 'DE' "
    "AND json_extract(attributes, '$.orders_total') >= 3 "
    "AND json_extract(attributes, '$.last_order_at') < ?"
)
GOAL = 1.3


def _when(moment: datetime) -> str:
    """The store's SQLite timestamp format (journeys/store/sqltypes.py)."""
    return moment.isoformat(" ", "microseconds")[:26]


def build(path: Path, customers: int, changed: int) -> None:
    """N customers; the first `changed` change (ids c0…), the next `changed` came due."""
    engine = create_db_engine(f"sqlite:///{path}")
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [JOURNEY])
    engine.dispose()
    conn = sqlite3.connect(path)
    now = _when(LAST_SWEEP)
    due_order = SWEEP - timedelta(days=90, minutes=30)  # came due half an hour ago
    recent = LAST_SWEEP - timedelta(days=20)

    def customer(i: int) -> tuple[int, str, str, str, str, str]:
        if i < changed:  # lapsed long ago, two orders: the update makes it three
            attrs = {
                "orders_total": 2,
                "last_order_at": (LAST_SWEEP - timedelta(days=200)).isoformat(),
            }
            country = "DE"
        elif i < 2 * changed:  # three orders, the last one 90 days ago by now
            attrs = {"orders_total": 3, "last_order_at": due_order.isoformat()}
            country = "DE"
        else:  # the rest: not in the segment, a third of them waiting for it
            attrs = {
                "orders_total": 3 if i % 3 == 0 else i % 3 - 1,
                "last_order_at": recent.isoformat(),
            }
            country = "DE" if i % 2 else "AT"
        return (i + 1, f"c{i}", country, json.dumps(attrs), now, now)

    conn.executemany(
        "INSERT INTO customer (id, external_id, country, attributes, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        (customer(i) for i in range(customers)),
    )
    waiting = _when(recent + timedelta(days=90, microseconds=1))
    timers = (
        (i + 1, "winback", _when(due_order + timedelta(days=90, microseconds=1)))
        if i < 2 * changed
        else (i + 1, "winback", waiting)
        for i in range(changed, customers)
        if i < 2 * changed or (i % 3 == 0 and i % 2)
    )
    conn.executemany(
        "INSERT INTO segment_timer (customer_id, journey, due_at) VALUES (?, ?, ?)", timers
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()


def _registry(url: str) -> tuple[JourneyRegistry, Callable[[], None]]:
    engine = create_db_engine(url)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [JOURNEY])
    return registry, engine.dispose


def run_changes(path: Path, changed: int) -> tuple[float, int]:
    url = f"sqlite:///{path}"
    registry, dispose = _registry(url)
    engine = create_db_engine(url)
    events = [
        IncomingEvent(
            source="crm",
            external_id=f"upd-{i}",
            type="customer.updated",
            customer_id=f"c{i}",
            occurred_at=SWEEP,
            data={"fields": ["attributes"]},
            customer={"attributes": {"orders_total": 3}},
        )
        for i in range(changed)
    ]
    entered = 0
    started = time.perf_counter()
    for start in range(0, len(events), 1000):
        with session_scope(engine) as session:
            entered += apply_events(session, registry, events[start : start + 1000], SWEEP).enrolled
    elapsed = time.perf_counter() - started
    engine.dispose()
    dispose()
    return elapsed, entered


def run_sweep(path: Path) -> tuple[float, int]:
    url = f"sqlite:///{path}"
    registry, dispose = _registry(url)
    engine = create_db_engine(url)
    entered = 0
    started = time.perf_counter()
    while True:
        with session_scope(engine) as session:
            swept = advance_timers(session, registry, SWEEP, limit=1000)
        entered += swept.enrolled
        if not swept.timers:
            break
    elapsed = time.perf_counter() - started
    engine.dispose()
    dispose()
    return elapsed, entered


def run_scan(path: Path) -> tuple[float, int]:
    conn = sqlite3.connect(path)
    cutoff = (SWEEP - timedelta(days=90)).isoformat()
    started = time.perf_counter()
    found = conn.execute(RAW_SCAN, (cutoff,)).fetchone()[0]
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed, int(found)


@dataclass
class Figures:
    customers: int
    changed: int
    scan: float
    scan_found: int
    changes: float
    changes_entered: int
    sweep: float
    sweep_entered: int


def measure(customers: int, changed: int, repeat: int, folder: Path) -> Figures:
    built = folder / f"store-{customers}.db"
    build(built, customers, changed)
    best: dict[str, tuple[float, int]] = {}
    for _ in range(repeat):
        for name, run in (
            ("changes", lambda p: run_changes(p, changed)),
            ("sweep", run_sweep),
            ("scan", run_scan),
        ):
            copy = folder / "try.db"
            shutil.copyfile(built, copy)
            got = run(copy)
            if name not in best or got[0] < best[name][0]:
                best[name] = got
            copy.unlink()
            dispose_engines()
    built.unlink()
    return Figures(customers, changed, *best["scan"], *best["changes"], *best["sweep"])


def report(rows: list[Figures]) -> bool:
    print(f"segment: {SEGMENT}")
    print(
        f"{'customers':>10} {'changed':>8} {'raw scan':>9} {'changes':>9} {'sweep':>9}"
        f" {'entered (changes/sweep)':>24} {'in segment (scan)':>18}"
    )
    for r in rows:
        print(
            f"{r.customers:>10,} {r.changed:>8,} {r.scan:>8.3f}s {r.changes:>8.3f}s "
            f"{r.sweep:>8.3f}s {r.changes_entered:>12,}/{r.sweep_entered:<11,} {r.scan_found:>18,}"
        )
    small, large = rows[0], rows[-1]
    grows = {
        "changes": large.changes / small.changes,
        "sweep": large.sweep / small.sweep,
        "raw scan": large.scan / small.scan,
    }
    print(
        f"\n{large.customers // small.customers}x the customers, the same {small.changed:,} "
        "changed/due: " + ", ".join(f"{k} x{v:.2f}" for k, v in grows.items())
    )
    for r in rows:
        print(
            f"at {r.customers:,}: changes {r.changes / r.scan:.2f}x the raw scan, "
            f"sweep {r.sweep / r.scan:.2f}x the raw scan"
        )
    right = all(r.changes_entered == r.changed and r.sweep_entered == r.changed for r in rows)
    ok = right and grows["changes"] <= GOAL and grows["sweep"] <= GOAL
    print(
        f"\ngoal: our times grow with the changed customers, not with all of them "
        f"(x{GOAL} at most when the customers double); every changed or due customer "
        "entered once"
    )
    print(f"verdict: {'PASS' if ok else 'FAIL'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=None, help="default: 1 %% of N")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    changed = args.changed or max(1, args.customers // 100)
    with tempfile.TemporaryDirectory(prefix="jf-bench-segments-") as tmp:
        rows = [
            measure(n, changed, args.repeat, Path(tmp))
            for n in (args.customers, 2 * args.customers)
        ]
    return 0 if report(rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
