"""The send policy's inputs, read per batch: consent and recent sends; the consent writer."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Connection, Engine, event

from journeys.errors import StoreError
from journeys.model import Journey, Settings
from journeys.policy import CONSENT_STATUSES, Allow, Defer, Skip, decide_send
from journeys.store import JourneyRegistry, session_scope
from journeys.store.people.consent import consents_for, recent_sends, set_consent
from journeys.store.tables import (
    CONSENT_STATUSES as TABLE_CONSENT_STATUSES,
)
from journeys.store.tables import (
    action_run_t,
    customer_t,
    enrollment_t,
)

if TYPE_CHECKING:
    from conftest import Peek

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
D = timedelta(days=1)
MANY = 300  # customers per batch: still one statement
WINDOWS = {"email": 7 * D, "sms": D, "webhook": H}

_keys = itertools.count(1)


@pytest.fixture
def customers(engine: Engine, make_journey: Callable[..., Journey]) -> list[int]:
    """MANY customers, each enrolled in two journeys (caps span journeys)."""
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [make_journey(), make_journey(journey="winback")])
        conn = session.connection()
        rows = [{"external_id": f"c{i:03}", "attributes": {}} for i in range(MANY)]
        ids = sorted(
            r[0] for r in conn.execute(customer_t.insert().returning(customer_t.c.id), rows)
        )
        conn.execute(
            enrollment_t.insert(),
            [_enrollment(id, journey) for id in ids for journey in ("onboarding", "winback")],
        )
    return ids


def _enrollment(customer_id: int, journey: str) -> dict[str, Any]:
    return {
        "customer_id": customer_id,
        "journey": journey,
        "version": 1,
        "number": 1,
        "stage": "signup",
        "status": "active",
        "entered_at": NOW - 30 * D,
        "stage_entered_at": NOW - 30 * D,
        "stage_entry": 1,
        "last_event_at": NOW - 30 * D,
    }


def add_runs(engine: Engine, runs: list[dict[str, Any]]) -> None:
    """Outbox rows: customer_id, kind, status, sent (updated_at), optional started, journey,
    marketing (None: no key in params, as for webhooks)."""
    with session_scope(engine) as session:
        conn = session.connection()
        enrollments = {
            (r.customer_id, r.journey): r.id
            for r in conn.execute(
                enrollment_t.select().with_only_columns(
                    enrollment_t.c.id, enrollment_t.c.customer_id, enrollment_t.c.journey
                )
            )
        }
        rows = []
        for run in runs:
            journey = run.get("journey", "onboarding")
            marketing = run.get("marketing", True if run["kind"] != "webhook" else None)
            rows.append(
                {
                    "idempotency_key": f"k{next(_keys)}",
                    "enrollment_id": enrollments[(run["customer_id"], journey)],
                    "journey": journey,
                    "customer_id": run["customer_id"],
                    "stage": "signup",
                    "stage_entry": 1,
                    "action_key": run["kind"],
                    "kind": run["kind"],
                    "params": {} if marketing is None else {"marketing": marketing},
                    "due_at": run["sent"] - H,
                    "status": run.get("status", "sent"),
                    "attempts": 1,
                    "cancel_on_leave": False,
                    "created_at": run["sent"] - H,
                    "updated_at": run["sent"],
                    "send_started_at": run.get("started"),
                }
            )
        conn.execute(action_run_t.insert(), rows)


@contextmanager
def selects(engine: Engine) -> Iterator[list[str]]:
    """The SELECT statements run on `engine` inside the block."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        if sql.lstrip().upper().startswith("SELECT"):
            seen.append(sql)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def read(engine: Engine, query: Callable[[Connection], Any]) -> Any:
    with engine.connect() as conn:
        return query(conn)


# --- consent -------------------------------------------------------------------------------


def test_the_policy_knows_the_statuses_the_table_allows() -> None:
    assert CONSENT_STATUSES == TABLE_CONSENT_STATUSES


def test_consents_for_many_customers_in_one_statement(engine: Engine, customers: list[int]) -> None:
    expected: dict[tuple[int, str], str] = {}
    with session_scope(engine) as session:
        for i, id in enumerate(customers):
            status = CONSENT_STATUSES[i % 4]
            set_consent(session, id, "email", status, "import", NOW - D)
            expected[(id, "email")] = status
            if i % 3 == 0:
                set_consent(session, id, "sms", "subscribed", "sms_keyword", NOW - D)
                expected[(id, "sms")] = "subscribed"
    with selects(engine) as seen:
        found = read(engine, lambda c: consents_for(c, customers, ["email", "sms"]))
    assert found == expected
    assert len(seen) == 1, seen
    asked = customers[:10]
    only_email = read(engine, lambda c: consents_for(c, asked, ["email"]))
    assert only_email == {(id, "email"): expected[(id, "email")] for id in asked}


def test_nothing_asked_nothing_read(engine: Engine, customers: list[int]) -> None:
    with selects(engine) as seen:
        assert read(engine, lambda c: consents_for(c, [], ["email"])) == {}
        assert read(engine, lambda c: consents_for(c, customers, [])) == {}
        assert read(engine, lambda c: recent_sends(c, [], WINDOWS, NOW)) == {}
        assert read(engine, lambda c: recent_sends(c, customers, {}, NOW)) == {}
    assert seen == []


def test_set_consent_keeps_the_current_state_and_appends_history(
    engine: Engine, customers: list[int], peek: Peek
) -> None:
    kim = customers[0]
    steps = [
        ("pending", "signup_form", NOW - 3 * D, "203.0.113.7"),
        ("subscribed", "double_opt_in", NOW - 2 * D, "203.0.113.7"),
        ("unsubscribed", "sendgrid", NOW - D, None),
    ]
    history: list[dict[str, Any]] = []
    for status, source, at, ip in steps:
        with session_scope(engine) as session:
            assert set_consent(session, kim, "email", status, source, at, ip=ip) == status
        rows = peek.rows("consent_change")
        assert rows[: len(history)] == history  # nothing written is ever changed
        history = rows
    assert [(r["previous_status"], r["status"], r["source"]) for r in history] == [
        (None, "pending", "signup_form"),
        ("pending", "subscribed", "double_opt_in"),
        ("subscribed", "unsubscribed", "sendgrid"),
    ]
    assert [r["detail"] for r in history] == ["ip=203.0.113.7", "ip=203.0.113.7", None]
    [current] = peek.rows("consent")
    assert (current["customer_id"], current["channel"]) == (kim, "email")
    assert (current["status"], current["source"], current["at"]) == (
        "unsubscribed",
        "sendgrid",
        NOW - D,
    )


def test_a_late_change_goes_into_history_but_not_over_a_newer_state(
    engine: Engine, customers: list[int], peek: Peek
) -> None:
    kim = customers[0]
    with session_scope(engine) as session:
        set_consent(session, kim, "sms", "subscribed", "web", NOW - H)
        # A STOP from yesterday, delivered only now.
        assert set_consent(session, kim, "sms", "unsubscribed", "sms_keyword", NOW - D) == (
            "subscribed"
        )
    [current] = peek.rows("consent")
    assert current["status"] == "subscribed" and current["at"] == NOW - H
    late = peek.rows("consent_change")[-1]
    assert (late["status"], late["at"]) == ("unsubscribed", NOW - D)
    assert "not applied" in late["detail"]


@pytest.mark.parametrize(
    ("channel", "status", "message"),
    [
        ("webhook", "subscribed", "no consent for channel 'webhook'; valid are: email, sms"),
        ("emial", "subscribed", "did you mean 'email'"),
        ("email", "opted_in", "unknown consent status 'opted_in'"),
    ],
)
def test_set_consent_refuses_what_it_does_not_know(
    engine: Engine, customers: list[int], channel: str, status: str, message: str
) -> None:
    with session_scope(engine) as session, pytest.raises(StoreError, match=message):
        set_consent(session, customers[0], channel, status, "import", NOW)
    with session_scope(engine) as session, pytest.raises(StoreError, match="naive datetime"):
        set_consent(session, customers[0], "email", "subscribed", "import", datetime(2026, 3, 2))


# --- recent sends --------------------------------------------------------------------------


def test_recent_sends_counts_what_was_sent_within_each_channels_window(
    engine: Engine, customers: list[int]
) -> None:
    a, b, other = customers[0], customers[1], customers[2]
    add_runs(
        engine,
        [
            {"customer_id": a, "kind": "email", "sent": NOW - 6 * D},
            {"customer_id": a, "kind": "email", "sent": NOW - H, "journey": "winback"},
            {"customer_id": a, "kind": "email", "sent": NOW - 2 * H, "status": "unknown"},
            {"customer_id": a, "kind": "email", "sent": NOW - 8 * D},  # before the window
            {"customer_id": a, "kind": "email", "sent": NOW - 7 * D},  # just left it
            {"customer_id": a, "kind": "email", "sent": NOW - H, "marketing": False},
            {"customer_id": a, "kind": "email", "sent": NOW - H, "status": "failed"},
            {"customer_id": a, "kind": "email", "sent": NOW - H, "status": "skipped"},
            {"customer_id": a, "kind": "email", "sent": NOW - H, "status": "pending"},
            {"customer_id": a, "kind": "sms", "sent": NOW - 2 * H},
            {"customer_id": a, "kind": "sms", "sent": NOW - 2 * D},  # outside sms's 1d
            {"customer_id": b, "kind": "webhook", "sent": NOW - 30 * 60 * timedelta(seconds=1)},
            {"customer_id": b, "kind": "webhook", "sent": NOW - 2 * H},
            # Started before the window ended, outcome written after: the start counts.
            {"customer_id": b, "kind": "sms", "sent": NOW - H, "started": NOW - 25 * H},
            {"customer_id": b, "kind": "sms", "sent": NOW - 3 * H, "started": NOW - 4 * H},
            {"customer_id": other, "kind": "email", "sent": NOW - H},  # not asked
        ],
    )
    found = read(engine, lambda c: recent_sends(c, [a, b], WINDOWS, NOW))
    assert found == {
        (a, "email"): [NOW - 6 * D, NOW - 2 * H, NOW - H],
        (a, "sms"): [NOW - 2 * H],
        (b, "webhook"): [NOW - 30 * 60 * timedelta(seconds=1)],
        (b, "sms"): [NOW - 4 * H],
    }
    assert all(t.tzinfo is not None for times in found.values() for t in times)
    only_sms = read(engine, lambda c: recent_sends(c, [a, b], {"sms": D}, NOW))
    assert set(only_sms) == {(a, "sms"), (b, "sms")}


def test_recent_sends_of_many_customers_in_one_statement(
    engine: Engine, customers: list[int]
) -> None:
    add_runs(
        engine,
        [
            {"customer_id": id, "kind": kind, "sent": NOW - (i % 5 + 1) * H}
            for i, id in enumerate(customers)
            for kind in ("email", "sms")
        ],
    )
    with selects(engine) as seen:
        found = read(engine, lambda c: recent_sends(c, customers, WINDOWS, NOW))
    assert len(seen) == 1, seen
    assert len(found) == 2 * MANY
    assert found[(customers[7], "sms")] == [NOW - 3 * H]


def test_the_policy_decides_on_what_the_store_returns(engine: Engine, customers: list[int]) -> None:
    subscribed, unsubscribed = customers[0], customers[1]
    with session_scope(engine) as session:
        set_consent(session, subscribed, "email", "subscribed", "double_opt_in", NOW - 9 * D)
        set_consent(session, unsubscribed, "email", "unsubscribed", "sendgrid", NOW - 9 * D)
    add_runs(
        engine,
        [
            {"customer_id": subscribed, "kind": "email", "sent": NOW - 20 * H},
            {"customer_id": subscribed, "kind": "email", "sent": NOW - 5 * H, "journey": "winback"},
        ],
    )
    settings = Settings(quiet_hours="21:00-08:00", frequency_cap={"email": "2/1d"})
    ids = [subscribed, unsubscribed, customers[2]]
    with engine.connect() as conn:
        consent = consents_for(conn, ids, ["email"])
        sends = recent_sends(conn, ids, {"email": D}, NOW)

    def decide(id: int) -> Any:
        return decide_send(
            channel="email",
            marketing=True,
            consent=consent.get((id, "email")),
            customer_tz="Europe/Berlin",
            settings=settings,
            now=NOW,
            recent_sends=sends.get((id, "email"), []),
        )

    assert decide(subscribed) == Defer(NOW + 4 * H, "frequency cap")
    assert decide(unsubscribed) == Skip("unsubscribed")
    assert decide(customers[2]) == Skip("no consent")
    assert (
        decide_send(
            channel="email",
            marketing=False,
            consent=None,
            customer_tz=None,
            settings=settings,
            now=NOW,
            recent_sends=sends.get((subscribed, "email"), []),
        )
        == Allow()
    )


def test_recent_sends_reads_through_the_customer_index_on_a_fresh_sqlite_file(
    tmp_path: Path,
) -> None:
    # Without statistics SQLite would take (status, due_at) and read every message ever
    # sent; the caps are checked at every dispatch, so the plan matters.
    from sqlalchemy import event as sa_event

    from journeys.store import create_db_engine, create_schema

    engine = create_db_engine(f"sqlite:///{tmp_path / 'plan.db'}")
    create_schema(engine)
    plans: list[str] = []

    @sa_event.listens_for(engine, "before_cursor_execute")
    def explain(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if "FROM action_run" in statement:
            rows = cursor.connection.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            plans.extend(str(row[-1]) for row in rows)

    with engine.connect() as conn:
        recent_sends(conn, range(1, 300), {"email": timedelta(days=7)}, datetime.now(UTC))

    assert any("ix_action_run_customer_id_status" in p for p in plans), plans
    engine.dispose()
