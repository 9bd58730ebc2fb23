"""Executing a migration in the store (journeys/store/migrating*.py), SQLite and PostgreSQL.

A population goes through the real ingest path on version 1; what the migration must
do to each row is computed here, in plain Python over the rows as they were, from the
rules the docs state, and compared with the store afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, text

from journeys.migrate import plan_migration
from journeys.model import Journey
from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope
from journeys.store.state.migrating import remaining, run_migration
from journeys.store.state.migrating_preview import (
    customers_by_stage,
    pending_by_action,
    preview_migration,
)

if TYPE_CHECKING:
    from conftest import Peek

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)
CAUSE = "migration:trial:1->2"

_SIGNUP_V1 = [
    {"key": "hello", "webhook": "https://example.org/hello"},
    {"key": "nudge", "after": "2d", "webhook": "https://example.org/nudge"},
    {"key": "gift", "after": "3d", "promo_code": {"discount": "10%", "prefix": "GIFT"}},
    {"key": "late", "after": "4d", "webhook": "https://example.org/late"},
    {"key": "keep", "after": "4d", "cancel_on_leave": False, "webhook": "https://example.org/k"},
]
V1: dict[str, Any] = {
    "journey": "trial",
    "version": 1,
    "name": "Trial",
    "exit": [{"event": "account.deleted"}],
    "stages": [
        {"key": "signup", "enter_when": {"event": "account.created"}, "on_enter": _SIGNUP_V1},
        {
            "key": "active",
            "enter_when": {"event": "order.completed", "from": ["signup"]},
            "on_enter": [{"key": "thanks", "after": "1d", "webhook": "https://example.org/t"}],
        },
        {"key": "legacy", "enter_when": {"event": "review.submitted"}},
        {
            "key": "dormant",
            "enter_when": {"no_event_for": "30d", "from": ["active"]},
            "final": True,
        },
    ],
}
V2: dict[str, Any] = {
    **V1,
    "version": 2,
    "stages": [
        {
            "key": "signup",
            "enter_when": {"event": "account.created"},
            "on_enter": [_SIGNUP_V1[0], {**_SIGNUP_V1[1], "after": "3d"}, _SIGNUP_V1[2]],
        },
        {**V1["stages"][1], "key": "buyer"},
        {
            "key": "dormant",
            "enter_when": {"no_event_for": "20d", "from": ["buyer"]},
            "final": True,
        },
    ],
    "migrations": [{"from_version": 1, "stages": {"active": "buyer"}}],
}
OLD, NEW = Journey.model_validate(V1), Journey.model_validate(V2)
PLAN = plan_migration(OLD, NEW)
# Written out from V2 by hand: where each covered stage goes, and the delayed actions
# (cancelled on leave) each stage of version 2 has.
TARGET = {"signup": "signup", "active": "buyer", "dormant": "dormant"}
CARRIES = {("signup", "nudge"), ("signup", "gift"), ("buyer", "thanks")}
INACTIVITY_V2 = {"buyer": timedelta(days=20)}


def _event(kind: str, customer: str, at: datetime, n: int) -> IncomingEvent:
    return IncomingEvent(
        source="shop", external_id=f"{kind}-{customer}-{n}", type=kind, customer_id=customer,
        occurred_at=at,
    )  # fmt: skip


def populate(engine: Engine, n: int = 40) -> JourneyRegistry:
    """n customers on version 1: in signup, active, legacy, or gone (an exit)."""
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [OLD])
    events = []
    for i in range(n):
        c = f"c{i:03d}"
        events.append(_event("account.created", c, T0 + timedelta(minutes=i), 0))
        follow = {1: "order.completed", 2: "review.submitted", 3: "account.deleted"}.get(i % 4)
        if follow:
            events.append(_event(follow, c, T0 + timedelta(hours=1, minutes=i), 1))
    with session_scope(engine) as session:
        apply_events(session, registry, events, T0 + timedelta(hours=2))
    with session_scope(engine) as session:
        registry.register(session, [NEW])  # deployed: new customers start on version 2
    return registry


def expected(peek: Peek) -> tuple[dict[int, dict[str, Any]], dict[int, str]]:
    """What the migration must make of each enrollment, and each pending action's fate."""
    enrollments = {row["id"]: row for row in peek.rows("enrollment")}
    moved = {
        id: {"version": 2, "stage": TARGET[e["stage"]], "stage_entry": e["stage_entry"] + 1}
        for id, e in enrollments.items()
        if e["status"] == "active" and e["version"] == 1 and e["stage"] in TARGET
    }
    fates = {}
    for a in peek.rows("action_run"):
        if a["status"] != "pending" or a["enrollment_id"] not in moved:
            continue
        e = enrollments[a["enrollment_id"]]
        target = TARGET[e["stage"]]
        owed = a["stage_entry"] != e["stage_entry"] or a["due_at"] <= NOW
        if owed or not a["cancel_on_leave"]:
            fates[a["id"]] = "kept"
        elif (target, a["action_key"]) in CARRIES:
            fates[a["id"]] = "carried"
        else:
            fates[a["id"]] = "cancelled"
    return moved, fates


def migrate(engine: Engine, **options: Any) -> Any:
    return run_migration(engine, PLAN, NEW, lambda: NOW, **options)


def test_every_covered_enrollment_moves_once_and_its_actions_meet_their_fates(
    engine: Engine, peek: Peek
) -> None:
    populate(engine)
    before_enrollments = {r["id"]: r for r in peek.rows("enrollment")}
    before_actions = {r["id"]: r for r in peek.rows("action_run")}
    before_codes = {r["action_idempotency_key"]: r["code"] for r in peek.rows("promo_code")}
    transitions = peek.count("stage_transition")
    moved, fates = expected(peek)
    assert {"kept", "carried", "cancelled"} == set(fates.values())  # the population covers all

    tally = migrate(engine, batch_size=7)

    assert tally.moved == len(moved) and tally.left == 0
    assert tally.batches == -(-len(moved) // 7)
    assert (tally.carried, tally.cancelled, tally.kept) == tuple(
        sum(f == fate for f in fates.values()) for fate in ("carried", "cancelled", "kept")
    )
    for id, row in {r["id"]: r for r in peek.rows("enrollment")}.items():
        if id not in moved:
            assert row == before_enrollments[id]
            continue
        want = moved[id]
        assert {k: row[k] for k in want} == want
        assert row["stage_entered_at"] == NOW
        assert row["timer_due_at"] == (
            NOW + INACTIVITY_V2[row["stage"]] if row["stage"] in INACTIVITY_V2 else None
        )
    new_transitions = [t for t in peek.rows("stage_transition") if t["cause"] == CAUSE]
    assert peek.count("stage_transition") == transitions + len(moved)
    assert sorted(t["enrollment_id"] for t in new_transitions) == sorted(moved)
    for t in new_transitions:
        e = before_enrollments[t["enrollment_id"]]
        assert (t["from_stage"], t["to_stage"], t["at"]) == (e["stage"], TARGET[e["stage"]], NOW)
    after_actions = {r["id"]: r for r in peek.rows("action_run")}
    assert set(after_actions) == set(before_actions)  # nothing added, nothing lost
    codes = {r["action_idempotency_key"]: r["code"] for r in peek.rows("promo_code")}
    assert sorted(codes.values()) == sorted(before_codes.values())
    for id, row in after_actions.items():
        old = before_actions[id]
        fate = fates.get(id, "kept")
        if fate == "kept":
            assert row == old
        elif fate == "cancelled":
            assert row["status"] == "skipped"
            assert row["last_error"].startswith(f"cancelled by {CAUSE}: stage ")
        else:
            e = moved[old["enrollment_id"]]
            assert row["status"] == "pending" and row["due_at"] == old["due_at"]
            assert (row["stage"], row["stage_entry"]) == (e["stage"], e["stage_entry"])
            assert row["idempotency_key"] != old["idempotency_key"]
            if old["action_key"] == "gift":  # the code issued with it follows it
                assert codes[row["idempotency_key"]] == before_codes[old["idempotency_key"]]


def test_running_again_changes_nothing(engine: Engine, peek: Peek) -> None:
    populate(engine)
    migrate(engine)
    after_first = {name: peek.rows(name) for name in ("enrollment", "stage_transition")}
    actions, codes = peek.rows("action_run"), peek.rows("promo_code")

    tally = migrate(engine)

    assert (tally.moved, tally.batches, tally.left) == (0, 0, 0)
    assert {name: peek.rows(name) for name in after_first} == after_first
    assert (peek.rows("action_run"), peek.rows("promo_code")) == (actions, codes)


def test_the_dry_run_changes_nothing_and_foretells_the_run(engine: Engine, peek: Peek) -> None:
    populate(engine)
    before = peek.counts(), peek.rows("enrollment"), peek.rows("action_run")
    moved, fates = expected(peek)

    with session_scope(engine, readonly=True) as session:
        preview = preview_migration(session.connection(), PLAN, NEW, NOW, sample=3)

    assert (peek.counts(), peek.rows("enrollment"), peek.rows("action_run")) == before
    tally = migrate(engine)
    assert preview.moving == tally.moved == len(moved)
    for fate in ("carried", "cancelled", "kept"):
        assert preview.count(fate) == sum(f == fate for f in fates.values())
    by_stage = {m.stage: m for m in preview.moves}
    assert by_stage["active"].target == "buyer" and by_stage["active"].declared
    assert not by_stage["signup"].declared
    rows = before[1]
    customers = {r["id"]: r["external_id"] for r in peek.rows("customer")}
    first_active = [
        customers[r["customer_id"]]
        for r in rows
        if r["stage"] == "active" and r["status"] == "active"
    ][:3]
    assert by_stage["active"].first == tuple(first_active)
    assert dict(preview.stays) == {"legacy": sum(r["stage"] == "legacy" for r in rows)}


def test_the_figures_of_customers_in_flight(engine: Engine, peek: Peek) -> None:
    populate(engine)
    rows = [r for r in peek.rows("enrollment") if r["status"] == "active"]
    stages: dict[str, int] = {}
    for r in rows:
        stages[r["stage"]] = stages.get(r["stage"], 0) + 1
    current = {(r["id"], r["stage_entry"]): r["stage"] for r in rows}
    waiting: dict[tuple[str, str], int] = {}
    for a in peek.rows("action_run"):
        stage = current.get((a["enrollment_id"], a["stage_entry"]))
        if stage is not None and a["status"] == "pending":
            waiting[(stage, a["action_key"])] = waiting.get((stage, a["action_key"]), 0) + 1

    with session_scope(engine, readonly=True) as session:
        conn = session.connection()
        assert customers_by_stage(conn, "trial", 1) == stages
        assert pending_by_action(conn, "trial", 1) == waiting
        assert remaining(conn, PLAN) == sum(n for s, n in stages.items() if s in TARGET)
        assert customers_by_stage(conn, "trial", 2) == {}


def test_a_carried_action_is_voided_when_the_customer_leaves_the_new_stage(
    engine: Engine, peek: Peek
) -> None:
    registry = populate(engine, n=4)
    migrate(engine)
    carried = {
        r["id"]: r
        for r in peek.rows("action_run")
        if r["action_key"] == "nudge" and r["status"] == "pending"
    }
    assert len(carried) == 1  # c000, still in signup
    leave = _event("order.completed", "c000", NOW + timedelta(hours=1), 9)
    with session_scope(engine) as session:
        apply_events(session, registry, [leave], NOW + timedelta(hours=1))

    [row] = [r for r in peek.rows("action_run") if r["id"] in carried]
    assert (row["status"], row["last_error"]) == ("skipped", "left the stage before it was due")
    [customer] = [c["id"] for c in peek.rows("customer") if c["external_id"] == "c000"]
    [enrollment] = [r for r in peek.rows("enrollment") if r["customer_id"] == customer]
    # Decided by version 2 from the migration on: its stage, from its own trigger.
    assert (enrollment["version"], enrollment["stage"]) == (2, "buyer")


def test_new_customers_after_the_deploy_start_on_the_new_version(
    engine: Engine, peek: Peek
) -> None:
    registry = populate(engine, n=4)
    with session_scope(engine) as session:
        apply_events(session, registry, [_event("account.created", "new", NOW, 0)], NOW)
    migrate(engine)
    versions = {
        c["external_id"]: e["version"]
        for c in peek.rows("customer")
        for e in peek.rows("enrollment")
        if e["customer_id"] == c["id"]
    }
    assert versions["new"] == 2
    [new] = [c["id"] for c in peek.rows("customer") if c["external_id"] == "new"]
    causes = [t["cause"] for t in peek.rows("stage_transition") if t["customer_id"] == new]
    assert causes == ["event:shop:account.created-new-0"]


@pytest.mark.postgres
def test_a_customer_another_writer_holds_is_left_for_a_later_run(
    engine: Engine, peek: Peek, db_url: str
) -> None:
    if not db_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers on the whole database")
    populate(engine, n=8)
    moved, _ = expected(peek)
    with engine.connect() as other:
        # What every writer of a customer's enrollments takes first (lock_customers).
        other.execute(text("SELECT pg_advisory_xact_lock(19014, hashtext('c000'))"))
        tally = migrate(engine, patience=1)
        assert (tally.moved, tally.left) == (len(moved) - 1, 1)
        other.rollback()
    tally = migrate(engine)
    assert (tally.moved, tally.left) == (1, 0)
    assert sum(t["cause"] == CAUSE for t in peek.rows("stage_transition")) == len(moved)
