"""Events through the engine into the store: state, history, outbox, inbox semantics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, event

import journeys.store.state.batch
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    process_inbox,
    session_scope,
    store_events,
)
from journeys.store.state.result import BatchResult

if TYPE_CHECKING:
    from conftest import Peek

MakeEvent = Callable[..., IncomingEvent]
H = timedelta(hours=1)


def apply(
    engine: Engine, registry: JourneyRegistry, events: list[IncomingEvent], now: Any = None
) -> BatchResult:
    now = now or max(e.occurred_at for e in events) + H
    with session_scope(engine) as session:
        return apply_events(session, registry, events, now)


def script(make_event: MakeEvent) -> list[IncomingEvent]:
    return [
        make_event("account.created", "c1", 0 * H, profile={"email": "kim@example.com"}),
        make_event("order.completed", "c1", 1 * H, total=99.5),
        make_event("review.submitted", "c1", 2 * H, rating=3),
        make_event("review.submitted", "c1", 3 * H, rating=5),
    ]


def test_a_scripted_sequence_leaves_state_history_and_outbox(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    result = apply(engine, registry, script(make_event))

    assert (result.events, result.enrolled, result.transitions) == (4, 1, 3)
    assert (result.actions_scheduled, result.actions_cancelled, result.ended) == (3, 1, 0)
    [enrollment] = peek.rows("enrollment")
    assert enrollment["stage"] == "loyal"
    assert enrollment["status"] == "active"
    assert (enrollment["version"], enrollment["number"], enrollment["stage_entry"]) == (1, 1, 3)
    assert enrollment["entered_at"] == t0
    assert enrollment["stage_entered_at"] == t0 + 3 * H
    assert enrollment["last_event_at"] == t0 + 3 * H
    assert enrollment["timer_due_at"] == t0 + 3 * H + timedelta(days=30)
    history = [
        (t["from_stage"], t["to_stage"], t["stage_entry"], t["at"])
        for t in peek.rows("stage_transition")
    ]
    assert history == [
        (None, "signup", 1, t0),
        ("signup", "active", 2, t0 + H),
        ("active", "loyal", 3, t0 + 3 * H),
    ]
    assert all(t["cause"].startswith("event:shop:ev-") for t in peek.rows("stage_transition"))
    outbox = {a["action_key"]: a for a in peek.rows("action_run")}
    assert {k: a["status"] for k, a in outbox.items()} == {
        "welcome": "pending",
        "nudge": "skipped",  # left `signup` before its 2 days were up
        "thanks": "pending",
    }
    assert outbox["nudge"]["due_at"] == t0 + timedelta(days=2)
    assert outbox["thanks"]["enrollment_id"] == enrollment["id"]
    [customer] = peek.rows("customer")
    assert customer["email"] == "kim@example.com"
    assert customer["attributes"] == {"buyer": True}


def test_an_action_that_fell_due_before_the_customer_left_is_still_owed(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    # The 2-day nudge of `signup` fell due on day 2; the customer ordered on day 3. The
    # dispatcher had not come round to it yet, but it was owed: leaving must not void it.
    apply(
        engine,
        registry,
        [
            make_event("account.created", "c1", 0 * H),
            make_event("order.completed", "c1", 72 * H, total=10),
        ],
    )

    outbox = {a["action_key"]: a["status"] for a in peek.rows("action_run")}
    assert outbox["nudge"] == "pending"


def test_duplicates_are_acknowledged_and_applied_once(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    events = script(make_event)
    first = apply(engine, registry, events + events[:2])
    assert (first.events, first.duplicates) == (4, 2)
    before = peek.counts()

    again = apply(engine, registry, events)
    assert (again.events, again.duplicates, again.transitions) == (0, 4, 0)
    assert peek.counts() == before


def test_stored_events_are_applied_once_by_the_inbox(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    events = script(make_event)
    with session_scope(engine) as session:
        assert store_events(session, events + events[:1]) == (4, 1)
    with session_scope(engine) as session:
        assert tuple(store_events(session, events)) == (0, 4)
    assert peek.count("enrollment") == 0

    now = t0 + timedelta(days=1)
    with session_scope(engine) as session:
        result = process_inbox(session, registry, now, limit=3)
    assert (result.events, result.transitions) == (3, 2)
    with session_scope(engine) as session:
        result = process_inbox(session, registry, now, limit=100)
    assert (result.events, result.transitions) == (1, 1)
    with session_scope(engine) as session:
        assert process_inbox(session, registry, now).events == 0
    assert peek.count("stage_transition") == 3
    assert all(e["processed_at"] == now for e in peek.rows("inbound_event"))


def test_events_apply_in_the_order_they_occurred(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    apply(engine, registry, list(reversed(script(make_event))))
    assert [t["to_stage"] for t in peek.rows("stage_transition")] == ["signup", "active", "loyal"]


@pytest.mark.parametrize("where", ["engine", "writer"])
def test_a_failing_batch_leaves_nothing_behind(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: MakeEvent,
    peek: Peek,
    monkeypatch: pytest.MonkeyPatch,
    where: str,
) -> None:
    events = [make_event("account.created", f"c{i}", i * H) for i in range(20)]
    events += [make_event("order.completed", f"c{i}", (20 + i) * H) for i in range(20)]
    before = peek.counts()

    class Boom(RuntimeError):
        pass

    if where == "engine":
        real, calls = journeys.store.state.batch.decide, []

        def failing(*args: Any) -> Any:
            calls.append(1)
            if len(calls) == 30:
                raise Boom
            return real(*args)

        monkeypatch.setattr(journeys.store.state.batch, "decide", failing)
    else:
        # Customers, enrollments and history are written by then; the outbox fails.
        def fail_outbox(*args: Any) -> int:
            raise Boom

        monkeypatch.setattr("journeys.store.state.writer._write_actions", fail_outbox)

    with pytest.raises(Boom):
        apply(engine, registry, events)
    assert peek.counts() == before
    monkeypatch.undo()
    result = apply(engine, registry, events)
    assert (result.events, result.enrolled, result.transitions) == (40, 20, 40)


def test_profiles_are_stored_normalised_and_merged(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    apply(
        engine,
        registry,
        [
            make_event(
                "account.created",
                "c1",
                0 * H,
                profile={"phone": "0151 2345 6789", "country": "de", "attributes": {"tier": "a"}},
            ),
            make_event(
                "page.viewed", "c1", H, profile={"first_name": "Kim", "attributes": {"n": 1}}
            ),
        ],
    )
    [customer] = peek.rows("customer")
    assert customer["phone"] == "+4915123456789"
    assert (customer["country"], customer["first_name"]) == ("DE", "Kim")
    assert customer["attributes"] == {"tier": "a", "n": 1}


def test_an_exit_event_ends_the_enrollment(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    result = apply(
        engine,
        registry,
        [make_event("account.created", "c1", 0 * H), make_event("account.deleted", "c1", H)],
    )
    assert result.ended == 1
    [enrollment] = peek.rows("enrollment")
    assert (enrollment["status"], enrollment["ended_at"]) == ("exited", t0 + H)
    assert enrollment["timer_due_at"] is None
    # The reentry policy is `never`: a new signup does not enrol the customer again.
    assert apply(engine, registry, [make_event("account.created", "c1", 2 * H)]).enrolled == 0


def test_a_batch_costs_a_few_statements_whatever_its_size(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent
) -> None:
    statements: list[str] = []

    def record(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        statements.append(sql)

    def batch(n: int, offset: int) -> list[IncomingEvent]:
        customers = [f"c{offset + i}" for i in range(n)]
        return [make_event("account.created", c, 0 * H) for c in customers] + [
            make_event("order.completed", c, H) for c in customers
        ]

    event.listen(engine, "before_cursor_execute", record)
    apply(engine, registry, batch(10, 0))
    small = len(statements)
    statements.clear()
    apply(engine, registry, batch(400, 1000))
    event.remove(engine, "before_cursor_execute", record)
    # Only SQLAlchemy's paging of very large multi-row INSERTs may add a statement or two.
    assert small <= 14
    assert len(statements) <= small + 3, statements


def test_concurrent_batches_for_the_same_customers_serialise(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    customers = [f"c{i}" for i in range(15)]
    kinds = ["account.created", "order.completed", "page.viewed", "review.submitted"]
    work = {
        name: [
            [
                make_event(kinds[(step + k) % 4], c, (step * 10 + k) * H, source=name, rating=5)
                for k, c in enumerate(customers)
            ]
            for step in range(8)
        ]
        for name in ("left", "right")
    }
    errors: list[BaseException] = []

    def worker(batches: list[list[IncomingEvent]]) -> None:
        try:
            for events in batches:
                apply(engine, registry, events, t0 + timedelta(days=1))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(b,)) for b in work.values()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert peek.count("inbound_event") == 2 * 8 * 15
    entries = [(t["enrollment_id"], t["stage_entry"]) for t in peek.rows("stage_transition")]
    assert len(entries) == len(set(entries)), "two batches decided on the same state"
    for enrollment in peek.rows("enrollment"):
        mine = sorted(s for e, s in entries if e == enrollment["id"])
        assert mine == list(range(1, enrollment["stage_entry"] + 1))


@pytest.mark.parametrize("timer_known", [True, False], ids=["timer-first", "engine-advances"])
def test_a_timer_ends_the_enrollment_before_an_event_starts_the_next(
    engine: Engine,
    make_journey: Callable[..., Any],
    make_event: MakeEvent,
    peek: Peek,
    monkeypatch: pytest.MonkeyPatch,
    t0: datetime,
    timer_known: bool,
) -> None:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [make_journey(reentry={"policy": "always"})])
    apply(
        engine,
        registry,
        [make_event("account.created", "c1", 0 * H), make_event("order.completed", "c1", H)],
    )
    if not timer_known:
        # The engine then fires the due timer itself, inside the event's decision.
        monkeypatch.setattr(
            journeys.store.state.batch.Batch, "timer_due", lambda self, row, changed_at=None: None
        )

    result = apply(engine, registry, [make_event("account.created", "c1", timedelta(days=40))])

    assert (result.ended, result.enrolled) == (1, 1)
    enrollments = [
        (e["number"], e["stage"], e["status"]) for e in peek.rows("enrollment", "number")
    ]
    assert enrollments == [(1, "dormant", "completed"), (2, "signup", "active")]
    [first] = [e for e in peek.rows("enrollment") if e["number"] == 1]
    assert (first["stage_entry"], first["ended_at"]) == (3, t0 + H + timedelta(days=30))
    history = [(t["to_stage"], t["stage_entry"]) for t in peek.rows("stage_transition")]
    assert history == [("signup", 1), ("active", 2), ("dormant", 3), ("signup", 1)]
