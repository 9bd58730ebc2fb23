"""The receiver's inbox pump: a pass that fails is logged without data and retried."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from flows import runtime
from flows.pump import InboxPump
from journeys.store import IncomingEvent, session_scope
from journeys.store.state.ingest import store_new_events

NOW = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def test_a_failed_pass_is_logged_without_data_and_the_next_one_applies_the_event(
    jobs_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, sender = runtime.open_store(), runtime.open_sender()
    order = IncomingEvent(
        source="shop",
        external_id="order-1",
        type="order.completed",
        customer_id="kim",
        occurred_at=NOW,
        data={"order_id": "A-1", "total": 50},
        customer={"email": "kim.privat@example.com", "first_name": "Kim", "locale": "de"},
    )
    with session_scope(store.engine) as session:
        store_new_events(session, [order], NOW)
    pump = InboxPump(store, sender, clock=lambda: NOW)
    # The inbox cannot be read for a while (a migration, a broken disk, …).
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound_event RENAME TO inbound_event_away")

    with caplog.at_level(logging.WARNING, logger="journeyflow.pump"):
        failed = pump.run_pass()

    assert failed.ingested is None
    [warning] = [r.getMessage() for r in caplog.records if r.name == "journeyflow.pump"]
    assert warning.startswith("inbox pump: ingest ")
    assert "OperationalError" in warning and "retried on the next wake-up" in warning
    # The class of the error only: never the SQL or its parameters.
    assert "kim.privat" not in caplog.text and "inbound_event" not in warning

    with store.engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE inbound_event_away RENAME TO inbound_event")
    applied = pump.run_pass()

    assert applied.ingested is not None and applied.ingested.events == 1
    assert applied.dispatched is not None and applied.dispatched.outcomes["sent"] == 1
    [thank_you] = (jobs_env / "outbox").rglob("*.eml")
    assert b"kim.privat@example.com" in thank_you.read_bytes()
