"""A journey in two versions, a population on the first, and `journeyflow migrate` run in
child processes that are SIGKILLed mid-way and run again; then the checks every such
run must pass, against expectations computed here from the rows as they were.

Used by `test_cli_versions.py` (the command's output and errors) and
`test_migrate_kills.py` (the kills: a few in CI, a storm under the `storm` marker).
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from journeys.config import PROJECT_ROOT
from journeys.loader import parse_journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.tables import metadata

CAUSE = "migration:trial:1->2"
V1 = """\
journey: trial
version: 1
name: Trial
exit: [{event: account.deleted}]
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter:
      - {key: hello, webhook: "https://example.org/hello"}
      - {key: nudge, after: 2d, webhook: "https://example.org/nudge"}
      - {key: gift, after: 3d, promo_code: {discount: "10%", prefix: GIFT}}
      - {key: late, after: 4d, webhook: "https://example.org/late"}
      - {key: keep, after: 4d, cancel_on_leave: false, webhook: "https://example.org/keep"}
  - key: active
    enter_when: {event: order.completed, from: [signup]}
    on_enter:
      - {key: thanks, after: 1d, webhook: "https://example.org/thanks"}
  - key: legacy
    enter_when: {event: review.submitted}
  - key: dormant
    enter_when: {no_event_for: 30d, from: [active]}
    final: true
"""
V2 = """\
journey: trial
version: 2
name: Trial
exit: [{event: account.deleted}]
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter:
      - {key: hello, webhook: "https://example.org/hello"}
      - {key: nudge, after: 3d, webhook: "https://example.org/nudge-2"}
      - {key: gift, after: 3d, promo_code: {discount: "10%", prefix: GIFT}}
  - key: buyer
    enter_when: {event: order.completed, from: [signup]}
    on_enter:
      - {key: thanks, after: 1d, webhook: "https://example.org/thanks"}
  - key: dormant
    enter_when: {no_event_for: 20d, from: [buyer]}
    final: true
migrations:
  - from_version: 1
    stages: {active: buyer}
"""
# Read off V2 by hand: where each covered stage of version 1 goes, and which delayed
# actions (cancelled on leave) each stage of version 2 has.
TARGET = {"signup": "signup", "active": "buyer", "dormant": "dormant"}
CARRIES = {("signup", "nudge"), ("signup", "gift"), ("buyer", "thanks")}


def project(folder: Path, version: str = V2) -> Path:
    """A journeys folder holding the journey's file (the newer version by default)."""
    journeys = folder / "journeys"
    journeys.mkdir(parents=True, exist_ok=True)
    (journeys / "trial.yaml").write_text(version, encoding="utf-8")
    return journeys


def populate(url: str, n: int, t0: datetime, *, register_v2: bool = False) -> None:
    """n customers on version 1 from t0: a quarter each in signup, active, legacy, and
    gone (an exit); through the real ingest path."""
    engine = create_db_engine(url)
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [parse_journey(V1)[0]])
    for start in range(0, n, 1000):
        events = []
        for i in range(start, min(n, start + 1000)):
            c = f"c{i:05d}"
            events.append(_event("account.created", c, t0, 0))
            follow = {1: "order.completed", 2: "review.submitted", 3: "account.deleted"}
            if i % 4 in follow:
                events.append(_event(follow[i % 4], c, t0 + timedelta(minutes=30), 1))
        with session_scope(engine) as session:
            apply_events(session, registry, events, t0 + timedelta(hours=1))
    if register_v2:
        with session_scope(engine) as session:
            registry.register(session, [parse_journey(V2)[0]])
    engine.dispose()


def _event(kind: str, customer: str, at: datetime, n: int) -> IncomingEvent:
    return IncomingEvent(
        source="shop",
        external_id=f"{kind}-{customer}-{n}",
        type=kind,
        customer_id=customer,
        occurred_at=at,
    )


def snapshot(url: str) -> dict[str, list[dict[str, Any]]]:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: [dict(r._mapping) for r in conn.execute(select(t).order_by(*t.primary_key))]
                for name, t in metadata.tables.items()
            }
    finally:
        engine.dispose()


def expected_fates(before: dict[str, list[dict[str, Any]]], at: datetime) -> dict[int, str]:
    """Each pending action of an enrollment the migration moves: carried, cancelled or
    kept, by the documented rules; `at` no earlier than the migration's time."""
    moving = {
        e["id"]: e
        for e in before["enrollment"]
        if e["status"] == "active" and e["version"] == 1 and e["stage"] in TARGET
    }
    fates = {}
    for a in before["action_run"]:
        e = moving.get(a["enrollment_id"])
        if e is None or a["status"] != "pending":
            continue
        owed = a["stage_entry"] != e["stage_entry"] or a["due_at"] <= at
        if owed or not a["cancel_on_leave"]:
            fates[a["id"]] = "kept"
        elif (TARGET[e["stage"]], a["action_key"]) in CARRIES:
            fates[a["id"]] = "carried"
        else:
            fates[a["id"]] = "cancelled"
    return fates


def check(
    before: dict[str, list[dict[str, Any]]], after: dict[str, list[dict[str, Any]]], at: datetime
) -> None:
    """Every covered enrollment migrated exactly once; no action lost, doubled, or given
    another fate than the rules say; nothing else touched."""
    old = {e["id"]: e for e in before["enrollment"]}
    moving = {
        id
        for id, e in old.items()
        if e["status"] == "active" and e["version"] == 1 and e["stage"] in TARGET
    }
    migrations = Counter(
        t["enrollment_id"] for t in after["stage_transition"] if t["cause"] == CAUSE
    )
    assert set(migrations) == moving, "an enrollment not migrated, or one migrated that must stay"
    assert set(migrations.values()) == {1}, "an enrollment migrated twice"
    assert len(after["stage_transition"]) == len(before["stage_transition"]) + len(moving)
    for e in after["enrollment"]:
        was = old[e["id"]]
        if e["id"] not in moving:
            assert e == was
            continue
        want = (2, TARGET[was["stage"]], was["stage_entry"] + 1)
        assert (e["version"], e["stage"], e["stage_entry"]) == want, (e, was)
    fates = expected_fates(before, at)
    actions = {a["id"]: a for a in after["action_run"]}
    assert set(actions) == {a["id"] for a in before["action_run"]}, "an action added or lost"
    assert len({a["idempotency_key"] for a in actions.values()}) == len(actions)
    for a in before["action_run"]:
        now = actions[a["id"]]
        fate = fates.get(a["id"], "kept")
        if fate == "kept":
            assert now == a, (now, a)
        elif fate == "cancelled":
            assert now["status"] == "skipped" and now["last_error"].startswith(
                f"cancelled by {CAUSE}"
            )
        else:
            assert now["status"] == "pending" and now["idempotency_key"] != a["idempotency_key"]
            assert now["stage_entry"] == a["stage_entry"] + 1
    codes = {c["action_idempotency_key"] for c in after["promo_code"]}
    assert len(after["promo_code"]) == len(before["promo_code"])
    assert codes <= {a["idempotency_key"] for a in actions.values()}, "a code lost its action"


def command(batch_size: int) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from flows.cli import main; main()",
        "migrate",
        "trial",
        "--to",
        "2",
        "--batch-size",
        str(batch_size),
    ]


def migrated(engine: Engine) -> int:
    t = metadata.tables["enrollment"]
    with engine.connect() as conn:
        return len(conn.execute(select(t.c.id).where(t.c.version == 2)).all())


def kill_runs(
    url: str, env: dict[str, str], kills: int, batch_size: int, seed: int
) -> tuple[list[int], str]:
    """Start `journeyflow migrate` and SIGKILL it a random moment after its first batch,
    `kills` times, then run it to the end; returns how many enrollments had moved after
    each kill, and the last run's output. Each run starts where the killed one stopped."""
    rng = random.Random(seed)
    engine = create_db_engine(url)
    counts: list[int] = []
    try:
        for _ in range(kills):
            process = subprocess.Popen(
                command(batch_size),
                cwd=PROJECT_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert process.stdout is not None
            for line in process.stdout:  # the first batch has committed
                if "moved" in line:
                    break
            time.sleep(rng.uniform(0.0, 0.3))
            process.send_signal(signal.SIGKILL)
            process.communicate()
            assert process.returncode == -signal.SIGKILL, "it ended before the kill"
            counts.append(migrated(engine))
        final = subprocess.run(
            command(batch_size), cwd=PROJECT_ROOT, env=env, capture_output=True, text=True
        )
        assert final.returncode == 0, final.stderr[-3000:]
        return counts, final.stdout
    finally:
        engine.dispose()
