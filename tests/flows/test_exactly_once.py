"""Exactly once up to the provider, with real processes, a real database and the real
SendGrid SDK against a local server that counts every request by idempotency key.

- dispatchers killed (SIGKILL) at random moments and restarted until all is settled;
- several dispatchers at once over the same database;
- a provider that refuses (429/500) or answers too late.

DESIGN.md's guarantee: every action at most once per (enrollment, stage entry, action);
a send whose outcome is unknown is marked `unknown`, never blindly repeated.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select, text
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
from journeys.store.tables import action_run_t

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "channels"))
from channel_fakes import (
    Recorded,
    Reply,
    SendGridFake,
    sendgrid_error,
)

PG_ENV = "JOURNEYFLOW_TEST_POSTGRES_URL"
DISPATCHER = Path(__file__).with_name("dispatcher_process.py")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEY = """\
journey: exactly_once
version: 1
name: Exactly once
locale: de
settings:
  sender: {email: service@beispielhandel.de, name: Beispielhandel}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter: [{email: buying_guide}]
    final: true
"""


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


@pytest.fixture
def provider() -> Iterator[CountingSendGrid]:
    fake = CountingSendGrid().start()
    assert isinstance(fake, CountingSendGrid)
    yield fake
    fake.stop()


# --- the database ----------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'exactly_once.db'}"
        return
    server = os.environ.get(PG_ENV)
    if not server:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {PG_ENV} is not set: the PostgreSQL tests must run in CI")
        pytest.skip(f"set {PG_ENV} to run the exactly-once tests on PostgreSQL too")
    url = make_url(server)
    name = f"journeyflow_once_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _prepare(url: str, n: int) -> None:
    """n customers, each with one marketing email due at T0, through the real store."""
    engine = create_db_engine(url)
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [parse_journey(JOURNEY)[0]])
    for start in range(0, n, 1000):
        events = [
            IncomingEvent(
                source="test",
                external_id=f"e{i}",
                type="account.created",
                customer_id=f"c{i}",
                occurred_at=T0,
                customer={"email": f"kunde{i}@example.org", "first_name": "Max", "locale": "de"},
            )
            for i in range(start, min(n, start + 1000))
        ]
        with session_scope(engine) as session:
            apply_events(session, registry, events, T0)
    engine.dispose()


def _statuses(url: str) -> dict[str, str]:
    engine = create_db_engine(url)
    try:
        query = select(action_run_t.c.idempotency_key, action_run_t.c.status)
        with engine.connect() as conn:
            return {key: status for key, status in conn.execute(query)}
    finally:
        engine.dispose()


# --- dispatcher processes --------------------------------------------------------------


@dataclass
class Dispatcher:
    process: subprocess.Popen[str]

    def go(self) -> None:
        """Let a dispatcher started with `wait=True` begin, once it is ready."""
        self.ready()
        assert self.process.stdin is not None
        self.process.stdin.write("go\n")
        self.process.stdin.flush()

    def ready(self) -> None:
        line = self.process.stdout.readline() if self.process.stdout else ""
        assert line.strip() == "ready", f"dispatcher did not start: {line!r}{self.stderr()}"

    def finish(self, timeout: float = 120) -> dict[str, Any]:
        out, _ = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, f"dispatcher failed: {out!r}{self.stderr()}"
        lines = [line for line in out.splitlines() if line.strip() and line.strip() != "ready"]
        report: dict[str, Any] = json.loads(lines[-1])
        return report

    def stderr(self) -> str:
        err = self.process.stderr.read() if self.process.stderr else ""
        return f"\nstderr:\n{err[-3000:]}" if err else ""


def _start(
    url: str,
    provider: CountingSendGrid,
    now: datetime,
    *options: str | float,
    wait: bool = False,
) -> Dispatcher:
    """A dispatcher process; with `wait`, it dispatches only after `go()`."""
    # A fresh interpreter (not fork): nothing of the parent's connections or threads.
    command = [sys.executable, str(DISPATCHER), url, provider.url, now.isoformat()]
    command += [str(o) for o in options] + (["--wait"] if wait else [])
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdin=subprocess.PIPE if wait else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # A dispatcher that hangs must fail the test, not the whole run.
    watchdog = threading.Timer(150, process.kill)
    watchdog.daemon = True
    watchdog.start()
    return Dispatcher(process)


def _settled_figures(
    statuses: dict[str, str], provider: CountingSendGrid
) -> tuple[Counter[str], list[str], list[str]]:
    """(statuses counted, keys delivered twice or more, keys the store does not know)."""
    delivered = provider.delivered()
    twice = sorted(k for k, n in delivered.items() if n > 1)
    strangers = sorted(set(delivered) - set(statuses))
    return Counter(statuses.values()), twice, strangers


# --- 1. killed and restarted -----------------------------------------------------------

CRASH_MESSAGES = 1500
CRASH_KILLS = 12
CRASH_BATCH = 10


def test_killed_dispatchers_send_each_message_at_most_once(
    tmp_path: Path, provider: CountingSendGrid
) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    _prepare(url, CRASH_MESSAGES)
    rng = random.Random(20260302)
    # Virtual time: each restart is a minute later, well past the 2 s lease of the
    # dispatcher it replaces, so its claims are recovered without waiting.
    now = T0 + timedelta(minutes=1)
    # One request in flight at a time: a kill may then leave at most one send unknown.
    options = ("--batch-size", CRASH_BATCH, "--concurrency", 1, "--lease", 2, "--max-attempts", 50)
    kills = 0
    following = _start(url, provider, now, *options, wait=True)
    for _ in range(CRASH_KILLS):
        dispatcher = following
        now += timedelta(minutes=1)
        following = _start(url, provider, now, *options, wait=True)
        dispatcher.go()
        try:
            dispatcher.process.wait(timeout=rng.uniform(0.05, 0.5))
        except subprocess.TimeoutExpired:
            dispatcher.process.send_signal(signal.SIGKILL)
            kills += 1
        dispatcher.process.communicate()
    following.go()
    last = following.finish()

    statuses = _statuses(url)
    counted, twice, strangers = _settled_figures(statuses, provider)
    delivered = provider.delivered()
    unknown = [k for k, s in statuses.items() if s == "unknown"]
    lost = [k for k in unknown if delivered[k] == 0]
    figures = (
        f"kills={kills} actions={len(statuses)} messages={sum(delivered.values())} "
        f"duplicates={len(twice)} unknown={len(unknown)} (never reached the provider: "
        f"{len(lost)}) cut-short requests={len(provider.violations)} statuses={dict(counted)} "
        f"last run={last}"
    )
    print(f"\ncrash test: {figures}")

    assert kills >= CRASH_KILLS // 2, f"too few kills landed in a dispatch: {figures}"
    assert len(statuses) == CRASH_MESSAGES, figures
    assert set(counted) <= {"sent", "unknown"}, f"every action ends sent or unknown: {figures}"
    assert not twice, f"delivered more than once: {twice[:10]} {figures}"
    assert not strangers, f"the provider got keys the store never had: {strangers[:10]}"
    assert all(delivered[k] == 1 for k, s in statuses.items() if s == "sent"), figures
    # Sends are marked just before they leave, a chunk of `concurrency` at a time: a kill
    # leaves unknown at most the one request that may have been in flight.
    assert len(unknown) <= kills, figures


# --- 2. dispatchers in parallel --------------------------------------------------------

PARALLEL_MESSAGES = 600


@pytest.mark.parametrize("workers", [2, 4])
def test_parallel_dispatchers_claim_each_action_once(
    db_url: str, provider: CountingSendGrid, workers: int
) -> None:
    _prepare(db_url, PARALLEL_MESSAGES)
    now = T0 + timedelta(minutes=1)
    options = ("--batch-size", 10, "--lease", 600)
    dispatchers = [
        _start(db_url, provider, now, *options, "--worker", f"w{i}") for i in range(workers)
    ]
    reports = [d.finish() for d in dispatchers]

    statuses = _statuses(db_url)
    counted, twice, strangers = _settled_figures(statuses, provider)
    received = provider.received()
    claimed = [r["claimed"] for r in reports]
    figures = (
        f"workers={workers} claimed per worker={claimed} messages={sum(received.values())} "
        f"duplicates={len(twice)} statuses={dict(counted)}"
    )
    print(f"\nparallel dispatchers: {figures}")

    assert not twice, f"claimed and sent twice: {twice[:10]} {figures}"
    assert not strangers, strangers[:10]
    assert counted == Counter({"sent": PARALLEL_MESSAGES}), figures
    assert set(received) == set(statuses), figures
    assert sum(claimed) == PARALLEL_MESSAGES, f"an action was claimed twice: {figures}"
    assert all(r["stale"] == 0 for r in reports), reports


# --- 3. a provider that refuses or answers too late ------------------------------------

FAULT_MESSAGES = 200
READ_TIMEOUT = 1.0


def test_refusals_are_retried_and_timeouts_never_resent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'faults.db'}"
    _prepare(url, FAULT_MESSAGES)
    # A late answer comes well after the read timeout, so slowness elsewhere cannot
    # turn an on-time answer into a timeout or the other way round.
    provider = CountingSendGrid(seed=7, refuse=0.2, slow=0.03, slow_for=READ_TIMEOUT * 3)
    provider.start()
    try:
        now = T0 + timedelta(minutes=1)
        options: tuple[str | float, ...] = ("--batch-size", 25, "--concurrency", 8)
        options += ("--timeout", READ_TIMEOUT)
        options += ("--max-attempts", 12)
        rounds = []
        following = _start(url, provider, now, *options, wait=True)
        for _ in range(15):
            dispatcher = following
            now += timedelta(hours=2)  # past any backoff (capped at an hour)
            following = _start(url, provider, now, *options, wait=True)
            dispatcher.go()
            report = dispatcher.finish()
            rounds.append(report["claimed"])
            if not report["claimed"]:
                break
        following.process.kill()
        following.process.communicate()
        fates = {k: list(v) for k, v in provider.fates.items()}
    finally:
        provider.stop()

    statuses = _statuses(url)
    counted = Counter(statuses.values())
    refused = sum(f in ("429", "500") for v in fates.values() for f in v)
    slow = sorted(k for k, v in fates.items() if "slow" in v)
    figures = (
        f"rounds={len(rounds)} claimed per round={rounds} requests="
        f"{sum(map(len, fates.values()))} refused={refused} answered late={len(slow)} "
        f"statuses={dict(counted)}"
    )
    print(f"\nfaults: {figures}")

    assert refused > 0 and slow, f"the seed should give refusals and late answers: {figures}"
    assert set(fates) == set(statuses), figures
    for key, status in statuses.items():
        history = fates[key]
        # Refused until one request is taken; nothing after it.
        assert all(f in ("429", "500") for f in history[:-1]), (key, history, figures)
        expected = "unknown" if history[-1] == "slow" else "sent"
        assert history[-1] in ("ok", "slow") and status == expected, (key, history, status)
    assert counted == Counter(sent=FAULT_MESSAGES - len(slow), unknown=len(slow)), figures
