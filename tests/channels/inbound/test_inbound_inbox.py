"""The inbox's group commit: callers that wait share a transaction, each in a savepoint.

Every caller must find its work committed when `run` returns, a failing item must
roll back alone, and a transaction that fails as a whole at COMMIT must not take the
other callers' work with it. On SQLite and, with JOURNEYFLOW_TEST_POSTGRES_URL, on
PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from receiver_harness import ON_BOTH_STORES, MakeReceiver
from sqlalchemy import Engine, event, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from channels.inbound import Inbox
from journeys.store import (
    IncomingEvent,
    Stored,
    session_scope,
    store_events,
)

T0 = datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
KEY = b"0123456789abcdef0123456789abcdef"


def order(external_id: str) -> IncomingEvent:
    return IncomingEvent(
        source="shop",
        external_id=external_id,
        type="order.completed",
        customer_id="c-1",
        occurred_at=T0,
    )


def store(external_id: str) -> Callable[[Session, datetime], Stored]:
    return lambda session, now: store_events(session, [order(external_id)], now)


def stored_ids(engine: Engine) -> set[str]:
    """What another connection sees: only committed rows (without waiting for the writer:
    on SQLite a read-only transaction does not take the write lock)."""
    with session_scope(engine, readonly=True) as session:
        rows = session.connection().execute(text("SELECT external_id FROM inbound_event"))
        return set(rows.scalars())


def count_commits(engine: Engine) -> list[int]:
    commits: list[int] = []
    event.listen(engine, "commit", lambda conn: commits.append(1))
    return commits


async def behind_a_gate(inbox: Inbox, works: list[Callable[[Session, datetime], Any]]) -> list[Any]:
    """Run `works` concurrently, all queued while the writer is busy with one gate item,
    so they meet in one batch; returns each one's result or exception."""
    gate = threading.Event()
    blocker = asyncio.ensure_future(inbox.run(lambda session, now: gate.wait(10)))
    await asyncio.sleep(0.05)  # the writer now waits in the gate item
    tasks = [asyncio.ensure_future(inbox.run(work)) for work in works]
    await asyncio.sleep(0.05)  # every task has queued its work
    gate.set()
    assert await blocker is True
    return await asyncio.gather(*tasks, return_exceptions=True)


@ON_BOTH_STORES
def test_concurrent_callers_return_only_after_their_work_committed(
    store_engine: Engine,
) -> None:
    inbox = Inbox(store_engine)
    commits = count_commits(store_engine)
    seen_on_return: dict[str, bool] = {}

    async def caller(external_id: str) -> Stored:
        result = await inbox.run(store(external_id))
        seen_on_return[external_id] = external_id in stored_ids(store_engine)
        return result

    async def many() -> list[Stored]:
        return await asyncio.gather(*(caller(f"e-{i}") for i in range(40)))

    results = asyncio.run(many())
    assert results == [Stored(new=1, duplicates=0)] * 40
    assert seen_on_return == {f"e-{i}": True for i in range(40)}
    assert stored_ids(store_engine) == {f"e-{i}" for i in range(40)}
    # They shared transactions: far fewer commits than callers.
    assert len(commits) < 20


@ON_BOTH_STORES
def test_callers_waiting_together_share_one_commit(store_engine: Engine) -> None:
    inbox = Inbox(store_engine)
    commits = count_commits(store_engine)
    results = asyncio.run(behind_a_gate(inbox, [store(f"e-{i}") for i in range(30)]))
    assert results == [Stored(new=1, duplicates=0)] * 30
    assert len(commits) == 2  # the gate's transaction, then all thirty in one


@ON_BOTH_STORES
def test_a_failing_item_rolls_back_alone_and_its_caller_gets_the_error(
    store_engine: Engine,
) -> None:
    inbox = Inbox(store_engine)

    def stores_then_fails(session: Session, now: datetime) -> None:
        store_events(session, [order("bad-python")], now)
        raise ValueError("the source refused the event")

    def breaks_a_constraint(session: Session, now: datetime) -> None:
        store_events(session, [order("bad-sql")], now)
        # A NULL type: the database refuses it (on PostgreSQL this aborts the
        # transaction, which only the savepoint rescues).
        session.connection().execute(
            text(
                "INSERT INTO inbound_event (source, external_id, type, customer_id, "
                "occurred_at, payload, received_at) VALUES ('shop', 'x', NULL, 'c', "
                ":at, '{}', :at)"
            ),
            {"at": T0},
        )

    works = [store("ok-1"), stores_then_fails, store("ok-2"), breaks_a_constraint, store("ok-3")]
    results = asyncio.run(behind_a_gate(inbox, works))

    assert results[0] == results[2] == results[4] == Stored(new=1, duplicates=0)
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "the source refused the event"
    assert isinstance(results[3], IntegrityError)
    assert stored_ids(store_engine) == {"ok-1", "ok-2", "ok-3"}


@ON_BOTH_STORES
def test_a_transaction_failing_at_commit_loses_only_the_item_that_broke_it(
    store_engine: Engine,
) -> None:
    inbox = Inbox(store_engine)
    postgres = store_engine.dialect.name == "postgresql"

    def violates_at_commit(session: Session, now: datetime) -> None:
        """A deferred constraint: every statement succeeds, the COMMIT fails."""
        conn = session.connection()
        store_events(session, [order("deferred")], now)
        if postgres:
            conn.execute(
                text(
                    "CREATE TEMP TABLE IF NOT EXISTS once (k int UNIQUE DEFERRABLE "
                    "INITIALLY DEFERRED) ON COMMIT DROP"
                )
            )
            conn.execute(text("INSERT INTO once VALUES (1), (1)"))
        else:
            conn.execute(text("CREATE TEMP TABLE IF NOT EXISTS parent (k INTEGER PRIMARY KEY)"))
            conn.execute(
                text(
                    "CREATE TEMP TABLE IF NOT EXISTS child (k INTEGER REFERENCES parent (k) "
                    "DEFERRABLE INITIALLY DEFERRED)"
                )
            )
            conn.execute(text("INSERT INTO child VALUES (1)"))

    works = [store("ok-1"), violates_at_commit, store("ok-2")]
    results = asyncio.run(behind_a_gate(inbox, works))

    assert results[0] == results[2] == Stored(new=1, duplicates=0)
    assert isinstance(results[1], IntegrityError)
    assert stored_ids(store_engine) == {"ok-1", "ok-2"}


def test_a_caller_that_goes_away_before_its_turn_is_skipped(store_engine: Engine) -> None:
    inbox = Inbox(store_engine)

    async def scenario() -> None:
        gate = threading.Event()
        blocker = asyncio.ensure_future(inbox.run(lambda session, now: gate.wait(10)))
        await asyncio.sleep(0.05)
        gone = asyncio.ensure_future(inbox.run(store("gone")))
        await asyncio.sleep(0.05)
        gone.cancel()  # the client disconnected while its work waited in the queue
        gate.set()
        await blocker
        assert await inbox.run(store("after")) == Stored(new=1, duplicates=0)

    asyncio.run(scenario())
    assert stored_ids(store_engine) == {"after"}


# --- through the running service ------------------------------------------------------------


def signed(body: bytes, webhook_id: str) -> dict[str, str]:
    timestamp = str(int(time.time()))
    mac = hmac.new(KEY, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


@ON_BOTH_STORES
def test_concurrent_deliveries_and_redeliveries_are_stored_once_each(
    make_receiver: MakeReceiver,
) -> None:
    secret = "whsec_" + base64.b64encode(KEY).decode()
    shop = make_receiver({"sources": {"shop": {"kind": "standard_webhooks", "secrets": [secret]}}})
    deliveries = []
    for i in range(30):
        body = json.dumps(
            {"type": "order.completed", "customer_id": f"c-{i}", "occurred_at": T0.isoformat()}
        ).encode()
        deliveries += [(body, signed(body, f"msg-{i}"))] * 2  # each one redelivered at once

    with ThreadPoolExecutor(max_workers=12) as pool:
        responses = list(pool.map(lambda d: shop.post("/webhooks/shop", d[0], d[1]), deliveries))

    assert [r.status_code for r in responses] == [200] * 60
    assert sum(r.json()["new"] for r in responses) == 30
    assert sum(r.json()["duplicates"] for r in responses) == 30
    assert shop.scalar("SELECT count(*) FROM inbound_event") == 30
    assert sum(shop.stored) == 30
