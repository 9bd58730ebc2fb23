"""Crash storms: real dispatcher processes on the production path, SIGKILLed at random
moments and restarted, against the real SendGrid SDK and a local server that counts
every request by idempotency key; then the figures, and the checks every storm must pass.

Used by `test_crash_storm.py`, at a size CI runs, and under the `storm` marker at the
size of the guarantee (20,000 messages, 200 kills; see the README).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pg_reset import drop_database
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

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
from journeys.store.feedback.message_events import MessageReport, record_message_events
from journeys.store.tables import action_run_t

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "channels"))
import production_dispatcher
from channel_fakes import Recorded, Reply, SendGridFake, sendgrid_error
from forked import Forked, preload

preload("production_dispatcher", *production_dispatcher.HEAVY)
PG_ENV = "JOURNEYFLOW_TEST_POSTGRES_URL"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEY = """\
journey: storm
version: 1
name: Storm
locale: de
settings:
  sender: {email: service@beispielhandel.de, name: Beispielhandel}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter: [{email: buying_guide, marketing: false}]
    final: true
"""
REFUSALS = ("429", "500")


# --- the provider ----------------------------------------------------------------------


def _key(body: Any) -> str:
    return str(body["personalizations"][0]["custom_args"]["idempotency_key"])


class CountingSendGrid(SendGridFake):
    """SendGrid that counts requests per idempotency key and can misbehave.

    Each request's fate is drawn from (seed, key, how often the key was seen), not from
    arrival order, so that concurrent requests cannot swap fates and the test knows
    exactly which request was refused, accepted or answered too late.
    """

    def __init__(
        self, seed: int = 0, refuse: float = 0.0, slow: float = 0.0, slow_for: float = 0.0
    ) -> None:
        super().__init__()
        self.seed, self.refuse, self.slow, self.slow_for = seed, refuse, slow, slow_for
        self.fates: defaultdict[str, list[str]] = defaultdict(list)
        # A killed dispatcher resets its connections: expected here, not worth a traceback.
        self._httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]

    def fate(self, key: str, nth: int) -> str:
        draw = random.Random(f"{self.seed}:{key}:{nth}").random()
        if draw < self.refuse / 2:
            return "429"
        if draw < self.refuse:
            return "500"
        if draw < self.refuse + self.slow:
            return "slow"
        return "ok"

    def respond(self, request: Recorded) -> Reply:
        status, found = self.validate(request)
        if found or status:
            return super().respond(request)  # a body cut short by a kill lands here
        key = _key(request.json)
        with self._lock:
            fate = self.fate(key, len(self.fates[key]) + 1)
            self.fates[key].append(fate)
        if fate == "429":
            return sendgrid_error(429, "too many requests")
        if fate == "500":
            return sendgrid_error(500, "internal error")
        reply = self.default_reply(request)
        if fate == "slow":
            reply.delay = self.slow_for
        return reply

    def received(self) -> Counter[str]:
        """How often each key reached the provider (refusals included)."""
        with self._lock:
            return Counter({k: len(v) for k, v in self.fates.items()})

    def delivered(self) -> Counter[str]:
        """How often each key was accepted: answered 202, or answered late (still taken)."""
        with self._lock:
            return Counter({k: sum(f in ("ok", "slow") for f in v) for k, v in self.fates.items()})


# --- the storm -------------------------------------------------------------------------


@dataclass(frozen=True)
class Storm:
    """One storm's size and weather. Times are wall seconds unless they say otherwise."""

    messages: int
    kills: int
    workers: int = 1
    kill_after: tuple[float, float] = (0.05, 2.0)  # a kill this long after the start
    lease: float = 60.0  # seconds of the dispatchers' clock
    speed: float = 1.0  # the dispatchers' clock runs this much faster than the wall's
    batch_size: int = 200
    concurrency: int = 4
    max_attempts: int = 5
    latency: float = 0.0  # every request is held this long by the provider
    refuse: float = 0.0  # share of requests answered 429 or 500
    slow: float = 0.0  # share answered after the read timeout
    timeout: float = 20.0  # the SDK's read timeout
    seed: int = 20260302
    deadline: float = 900.0  # the whole storm, at most


@dataclass
class Outcome:
    storm: Storm
    statuses: dict[str, tuple[str, str | None, int]]  # key: (status, last_error, crashes)
    fates: dict[str, list[str]]
    kills: int
    cut_short: int  # requests a kill cut off mid-body (answered 400, never delivered)
    seconds: float
    reports: list[dict[str, Any]] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        counted = Counter(s for s, _, _ in self.statuses.values())
        delivered = {k: sum(f in ("ok", "slow") for f in v) for k, v in self.fates.items()}
        unknown = [k for k, (s, _, _) in self.statuses.items() if s == "unknown"]
        return {
            "actions": len(self.statuses),
            "kills": self.kills,
            "statuses": dict(sorted(counted.items())),
            "duplicates": sum(n > 1 for n in delivered.values()),
            "failed that never reached the provider": len(self.never_reached_but_failed()),
            "unknown": len(unknown),
            "unknown never delivered": sum(delivered.get(k, 0) == 0 for k in unknown),
            "answered late": len(self.late()),
            "gave up": len(self.gave_up()),
            "gave up as the refusal rate predicts": len(self.predicted_gave_up()),
            "requests": sum(map(len, self.fates.values())),
            "refused": sum(f in REFUSALS for v in self.fates.values() for f in v),
            "crashed while in hand": sum(c > 0 for _, _, c in self.statuses.values()),
            "cut-short requests": self.cut_short,
            "seconds": round(self.seconds, 1),
        }

    def late(self) -> set[str]:
        return {k for k, v in self.fates.items() if "slow" in v}

    def gave_up(self) -> set[str]:
        return {
            k
            for k, (s, why, _) in self.statuses.items()
            if s == "failed" and (why or "").startswith("gave up")
        }

    def never_reached_but_failed(self) -> set[str]:
        return {
            k for k, (s, _, _) in self.statuses.items() if s == "failed" and not self.fates.get(k)
        }

    def predicted_gave_up(self) -> set[str]:
        """Keys whose first `max_attempts` requests the provider was set to refuse."""
        provider = CountingSendGrid(self.storm.seed, self.storm.refuse, self.storm.slow)
        m = self.storm.max_attempts
        return {
            k
            for k in self.statuses
            if all(provider.fate(k, n) in REFUSALS for n in range(1, m + 1))
        }


def check(outcome: Outcome) -> None:
    """What every storm must show, at any size."""
    storm, figures = outcome.storm, outcome.figures()
    text = json.dumps(figures)
    statuses = {k: s for k, (s, _, _) in outcome.statuses.items()}
    delivered = Counter({k: sum(f in ("ok", "slow") for f in v) for k, v in outcome.fates.items()})
    assert len(statuses) == storm.messages, text
    assert outcome.kills >= storm.kills, f"too few kills landed in a dispatch: {text}"
    # Every action ends sent, unknown, or failed for a reason of its own.
    assert set(statuses.values()) <= {"sent", "unknown", "failed"}, text
    assert figures["duplicates"] == 0, f"delivered more than once: {text}"
    assert set(delivered) <= set(statuses), "the provider got keys the store never had"
    assert all(delivered[k] == 1 for k, s in statuses.items() if s == "sent"), text
    # Nothing reaches the provider again once it took the message, refusal or not.
    for key, history in outcome.fates.items():
        taken = [i for i, f in enumerate(history) if f in ("ok", "slow")]
        assert not taken or taken[0] == len(history) - 1, (key, history)
    # Failed only for the provider's own refusals, `max_attempts` of them, never for a crash.
    assert not outcome.never_reached_but_failed(), text
    failed = {k for k, s in statuses.items() if s == "failed"}
    assert failed == outcome.gave_up(), text
    for key in failed:
        history = outcome.fates[key]
        assert history == [f for f in history if f in REFUSALS], (key, history)
        assert len(history) == storm.max_attempts, (key, history)
    # The refusal rate predicts who gives up; a kill may leave one of them unknown instead.
    predicted = outcome.predicted_gave_up()
    assert failed <= predicted, text
    unknown = {k for k, s in statuses.items() if s == "unknown"}
    assert predicted - failed <= unknown, text
    # Unknown: a late answer, or a request in flight when its dispatcher was killed.
    in_flight = unknown - outcome.late()
    assert len(in_flight) <= outcome.kills * storm.concurrency, text


def reconcile(url: str, outcome: Outcome) -> dict[str, str]:
    """The provider's delivery reports for every message it took, recorded as the
    receiver records SendGrid's event webhook; the statuses afterwards."""
    engine = create_db_engine(url)
    taken = [k for k, history in outcome.fates.items() if "ok" in history or "slow" in history]
    at = datetime.now(UTC)
    try:
        with session_scope(engine) as session:
            reports = [MessageReport("sendgrid", "delivered", at, idempotency_key=k) for k in taken]
            record_message_events(session, reports, at)
        with engine.connect() as conn:
            rows = conn.execute(select(action_run_t.c.idempotency_key, action_run_t.c.status))
            return {key: status for key, status in rows}
    finally:
        engine.dispose()


def prepare(url: str, n: int, journeys: Path) -> None:
    """n customers, each with one email due at T0, through the real store; the journey
    also as a file, for the dispatchers' store to register."""
    journeys.mkdir(parents=True, exist_ok=True)
    (journeys / "storm.yaml").write_text(JOURNEY, encoding="utf-8")
    sign_up(url, n, JOURNEY)


def sign_up(url: str, n: int, journey: str) -> None:
    """n customers sign up at T0 (an account.created each) into `journey`."""
    engine = create_db_engine(url)
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [parse_journey(journey)[0]])
    for start in range(0, n, 2000):
        events = [
            IncomingEvent(
                source="test",
                external_id=f"e{i}",
                type="account.created",
                customer_id=f"c{i}",
                occurred_at=T0,
                customer={"email": f"kunde{i}@example.org", "first_name": "Max", "locale": "de"},
            )
            for i in range(start, min(n, start + 2000))
        ]
        with session_scope(engine) as session:
            apply_events(session, registry, events, T0)
    engine.dispose()


@contextmanager
def postgres_database(prefix: str) -> Iterator[str]:
    """A new database on the server JOURNEYFLOW_TEST_POSTGRES_URL names, dropped after;
    skipped without a server, except in CI, where the PostgreSQL tests must run."""
    server = os.environ.get(PG_ENV)
    if not server:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests must run in CI")
        pytest.skip(f"set {PG_ENV} to run the PostgreSQL tests too")
    url = make_url(server)
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)
        admin.dispose()


class _Dispatcher:
    """A dispatcher process, started ahead of time (its imports cost no storm time, and a
    kill lands in the dispatch, not in the start-up)."""

    def __init__(self, argv: list[str]) -> None:
        self.forked = Forked(production_dispatcher.main, argv)
        self.process = self.forked.process
        self.kill_at = 0.0

    def go(self, kill_after: float) -> None:
        """Let it start dispatching once it is ready; it is killed `kill_after` from now."""
        line = self.forked.next(timeout=120)
        if line != "ready":
            self.kill()
            raise AssertionError(f"dispatcher did not start: {line}")
        self.forked.send("go")
        self.kill_at = time.monotonic() + kill_after

    def running(self) -> bool:
        return self.forked.running()

    def kill(self) -> None:
        self.forked.kill()

    def finish(self) -> dict[str, Any]:
        return dict(json.loads(self.forked.finish(timeout=600)))


def _statuses(url: str) -> dict[str, tuple[str, str | None, int]]:
    engine = create_db_engine(url)
    a = action_run_t
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(a.c.idempotency_key, a.c.status, a.c.last_error, a.c.crashes)
            )
            return {key: (status, why, crashes) for key, status, why, crashes in rows}
    finally:
        engine.dispose()


def _open_rows(url: str) -> int:
    engine = create_db_engine(url)
    try:
        with engine.connect() as conn:
            query = select(func.count()).where(action_run_t.c.status.in_(("pending", "claimed")))
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


def run(url: str, storm: Storm, workdir: Path) -> Outcome:
    """Prepare the store, then kill dispatchers `storm.kills` times, then let the last
    ones finish until nothing is pending or claimed; the outcome with every figure."""
    journeys = workdir / "journeys"
    prepare(url, storm.messages, journeys)
    provider = CountingSendGrid(storm.seed, storm.refuse, storm.slow, storm.timeout * 3)
    provider.hold = storm.latency
    provider.expect_violations = True  # a kill can cut a request body short
    provider.start()
    rng = random.Random(storm.seed)
    epoch, started = time.time(), time.monotonic()
    command = [url, provider.url, str(journeys)]
    command += ["--start", (T0 + timedelta(minutes=1)).isoformat(), "--epoch", str(epoch)]
    for option, value in (
        ("--speed", storm.speed),
        ("--batch-size", storm.batch_size),
        ("--lease", storm.lease),
        ("--concurrency", storm.concurrency),
        ("--timeout", storm.timeout),
        ("--max-attempts", storm.max_attempts),
        ("--deadline", storm.deadline),
    ):
        command += [option, str(value)]
    command.append("--wait")
    kills, reports = 0, []
    # Warm spares, one more than the workers: a killed dispatcher is replaced at once
    # while the next spare starts up (imports take a second of CPU, and the spares left
    # at the end are started for nothing).
    spares = [_Dispatcher(command) for _ in range(storm.workers + 1)]
    running: list[_Dispatcher] = []
    watchdog = threading.Timer(storm.deadline + 60, lambda: [d.process.kill() for d in running])
    watchdog.daemon = True
    watchdog.start()
    try:
        while time.monotonic() - started < storm.deadline:
            # While kills are due, each dispatcher is killed at a random moment; after
            # the last kill they run until nothing is pending or claimed (the claims of
            # the last killed ones wait for their leases).
            while len(running) < storm.workers:
                dispatcher = spares.pop(0)  # the oldest: the one most likely ready
                after = rng.uniform(*storm.kill_after) if kills < storm.kills else float("inf")
                dispatcher.go(after)
                running.append(dispatcher)
                spares.append(_Dispatcher(command))
            time.sleep(0.005)
            finished = False
            for dispatcher in list(running):
                if not dispatcher.running():
                    running.remove(dispatcher)
                    reports.append(dispatcher.finish())
                    finished = True
                elif kills < storm.kills and time.monotonic() >= dispatcher.kill_at:
                    dispatcher.kill()
                    running.remove(dispatcher)
                    kills += 1
            # A dispatcher ends only when it found nothing pending or claimed.
            if finished and not _open_rows(url):
                break
        for dispatcher in running:
            reports.append(dispatcher.finish())
    finally:
        watchdog.cancel()
        for dispatcher in spares + running:
            dispatcher.kill()
        fates = {k: list(v) for k, v in provider.fates.items()}
        cut_short = len(provider.violations)
        provider.stop()
    return Outcome(
        storm,
        _statuses(url),
        fates,
        kills,
        cut_short,
        time.monotonic() - started,
        reports,
    )
