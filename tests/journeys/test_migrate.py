"""Migrating one enrollment to a newer version: the pure decision (journeys/migrate.py).

Expectations follow the documented rules (docs/journeys.md, "Changing a journey in
flight"), written out by hand; the carried keys are checked against what the engine
itself voids when the customer later leaves the new stage.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeys.decisions import EnrollmentState, Event, LeftStage, idempotency_key
from journeys.engine import decide
from journeys.migrate import (
    MigrationError,
    PendingAction,
    migrate_enrollment,
    plan_migration,
)
from journeys.model import Journey

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=6)

V1: dict[str, Any] = {
    "journey": "trial",
    "version": 1,
    "name": "Trial",
    "stages": [
        {
            "key": "signup",
            "enter_when": {"event": "account.created"},
            "on_enter": [
                {"key": "hello", "webhook": "https://example.org/hello"},
                {"key": "nudge", "after": "2d", "webhook": "https://example.org/nudge"},
                {"key": "late", "after": "4d", "webhook": "https://example.org/late"},
                {
                    "key": "keep",
                    "after": "4d",
                    "cancel_on_leave": False,
                    "webhook": "https://example.org/keep",
                },
            ],
        },
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
            "on_enter": [
                {"key": "hello", "webhook": "https://example.org/hello"},
                {"key": "nudge", "after": "3d", "webhook": "https://example.org/nudge2"},
            ],
        },
        {
            "key": "buyer",
            "enter_when": {"event": "order.completed", "from": ["signup"]},
            "on_enter": [{"key": "thanks", "after": "1d", "webhook": "https://example.org/t"}],
        },
        {
            "key": "vip",
            "enter_when": {"event": "vip.granted"},
            "on_enter": [{"after": "7d", "move_to": "dormant"}],
        },
        {
            "key": "dormant",
            "enter_when": {"no_event_for": "20d", "from": ["buyer"]},
            "final": True,
        },
    ],
    "migrations": [{"from_version": 1, "stages": {"active": "buyer"}}],
}


def journey(data: dict[str, Any], **changes: Any) -> Journey:
    return Journey.model_validate({**data, **changes})


OLD, NEW = journey(V1), journey(V2)
PLAN = plan_migration(OLD, NEW)


def state(stage: str = "signup", entry: int = 1, **changes: Any) -> EnrollmentState:
    base = EnrollmentState(
        journey="trial",
        version=1,
        customer_id="c1",
        number=1,
        stage=stage,
        status="active",
        entered_at=T0,
        stage_entered_at=T0,
        stage_entry=entry,
        last_event_at=T0,
    )
    return replace(base, **changes)


def pending(
    key: str,
    *,
    stage: str = "signup",
    entry: int = 1,
    after: timedelta = timedelta(days=2),
    cancel: bool = True,
    kind: str = "webhook",
    started: bool = False,
) -> PendingAction:
    return PendingAction(
        idempotency_key("trial", "c1", 1, entry, stage, key),
        entry,
        key,
        kind,
        T0 + after,
        cancel,
        started,
    )


# --- the plan ------------------------------------------------------------------------------


def test_a_plan_maps_named_stages_keeps_shared_keys_and_leaves_the_rest() -> None:
    assert dict(PLAN.moves) == {"signup": "signup", "active": "buyer", "dormant": "dormant"}
    assert PLAN.declared == {"active"}
    assert PLAN.stays == ("legacy",)
    assert PLAN.cause == "migration:trial:1->2"


def test_the_mapping_may_move_customers_out_of_a_stage_that_still_exists() -> None:
    new = journey(V2, migrations=[{"from_version": 1, "stages": {"signup": "vip"}}])
    assert plan_migration(OLD, new).moves["signup"] == "vip"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (V1, {**V2, "migrations": []}, "declares no migration from version 1"),
        (
            V1,
            {**V2, "migrations": [{"from_version": 1, "stages": {"activ": "buyer"}}]},
            "migrations.0.stages.activ: version 1 of 'trial' has no stage 'activ' "
            "(did you mean 'active'?)",
        ),
        (
            V1,
            {**V2, "migrations": [{"from_version": 1, "stages": {"active": "gold"}}]},
            "migrations.0.stages.active: version 2 has no stage 'gold'",
        ),
        (V2, V2, "version 2 is not newer than version 2"),
        (V1, {**V2, "journey": "other"}, "'trial' and 'other' are different journeys"),
    ],
)
def test_a_migration_that_cannot_be_planned_says_why(
    old: dict[str, Any], new: dict[str, Any], message: str
) -> None:
    with pytest.raises(MigrationError) as raised:
        plan_migration(journey(old), journey(new))
    assert message in str(raised.value)


def test_a_second_migration_block_for_another_version_is_used_for_that_version() -> None:
    v3 = journey(
        V2,
        version=3,
        migrations=[
            {"from_version": 1, "stages": {"active": "buyer"}},
            {"from_version": 2, "stages": {"vip": "buyer"}},
        ],
    )
    assert plan_migration(NEW, v3).moves["vip"] == "buyer"
    assert plan_migration(OLD, v3).moves["active"] == "buyer"


# --- one enrollment ------------------------------------------------------------------------


def test_the_move_is_a_stage_entry_at_the_migration_with_a_cause_naming_it() -> None:
    move = migrate_enrollment(PLAN, NEW, state("active", entry=2), (), {}, NOW)

    assert move is not None
    assert (move.state.version, move.state.stage, move.state.stage_entry) == (2, "buyer", 3)
    assert move.state.stage_entered_at == NOW
    assert move.state.last_event_at == T0  # what the customer did is unchanged
    t = move.transition
    assert (t.from_stage, t.to_stage, t.stage_entry, t.cause, t.at) == (
        "active",
        "buyer",
        3,
        "migration:trial:1->2",
        NOW,
    )
    # Version 2's inactivity delay (20 days), counted from the migration.
    assert move.timer_due_at == NOW + timedelta(days=20)


def test_the_history_never_runs_backwards() -> None:
    later = NOW + timedelta(days=1)
    move = migrate_enrollment(PLAN, NEW, state(stage_entered_at=later), (), {}, NOW)
    assert move is not None and move.transition.at == later


@pytest.mark.parametrize(
    "s",
    [
        state("legacy"),  # not covered: stays on version 1
        state(version=2),  # moved already
        state(status="completed", ended_at=T0),
        state(journey="other"),
    ],
)
def test_enrollments_the_plan_does_not_concern_are_left_alone(s: EnrollmentState) -> None:
    assert migrate_enrollment(PLAN, NEW, s, [pending("nudge")], {}, NOW) is None


def test_pending_actions_are_carried_cancelled_or_kept_by_the_rules() -> None:
    actions = [
        pending("hello", after=timedelta(0), cancel=False),  # immediate, due: owed
        pending("nudge"),  # version 2's signup has it: carried
        pending("late", after=timedelta(days=4)),  # version 2 lacks it: cancelled
        pending("keep", after=timedelta(days=4), cancel=False),  # cancel_on_leave false
        pending("nudge", entry=0, stage="signup"),  # an earlier stage entry: owed
        pending("nudge", kind="email", entry=1),  # same key, another kind: cancelled
    ]
    # Drop the duplicate key so the fates are per action.
    actions[-1] = replace(actions[-1], idempotency_key="other-kind")
    actions[-2] = replace(actions[-2], idempotency_key="earlier")

    move = migrate_enrollment(PLAN, NEW, state(), actions, {}, NOW)

    assert move is not None
    key = actions[1].idempotency_key
    assert move.carried == ((key, idempotency_key("trial", "c1", 1, 2, "signup", "nudge")),)
    assert {k for k, _ in move.cancelled} == {actions[2].idempotency_key, "other-kind"}
    assert all(why.startswith("cancelled by migration:trial:1->2") for _, why in move.cancelled)
    assert set(move.kept) == {actions[0].idempotency_key, actions[3].idempotency_key, "earlier"}


def test_a_delayed_action_due_by_the_migration_is_owed_and_kept() -> None:
    due = pending("late", after=timedelta(hours=1))  # due before NOW
    started = pending("late", after=timedelta(days=4), started=True)
    started = replace(started, idempotency_key="started")
    move = migrate_enrollment(PLAN, NEW, state(), [due, started], {}, NOW)
    assert move is not None and set(move.kept) == {due.idempotency_key, "started"}


def test_a_carried_action_is_voided_when_the_customer_leaves_the_new_stage() -> None:
    """The engine computes what leaving voids: a carried key must be among them."""
    move = migrate_enrollment(PLAN, NEW, state(), [pending("nudge")], {}, NOW)
    assert move is not None
    leave = Event("e1", "order.completed", "c1", NOW + timedelta(hours=1))

    outcome = decide(NEW, move.state, {}, leave, NOW + timedelta(hours=1))

    [left] = [d for d in outcome.decisions if isinstance(d, LeftStage)]
    assert move.carried[0][1] in left.void


def test_a_customer_mapped_into_a_final_stage_completes_the_journey() -> None:
    new = journey(V2, migrations=[{"from_version": 1, "stages": {"legacy": "dormant"}}])
    plan = plan_migration(OLD, new)

    move = migrate_enrollment(plan, new, state("legacy"), (), {}, NOW)

    assert move is not None
    assert (move.state.status, move.state.ended_at, move.timer_due_at) == ("completed", NOW, None)


def test_a_timer_with_a_condition_reads_the_customer() -> None:
    new = journey(
        V2,
        migrations=[{"from_version": 1, "stages": {"signup": "vip"}}],
        stages=[
            *V2["stages"][:2],
            {
                "key": "vip",
                "enter_when": {"event": "vip.granted"},
                "on_enter": [
                    {"after": "7d", "move_to": "dormant", "when": "customer.tier == 'gold'"}
                ],
            },
            V2["stages"][3],
        ],
    )
    plan = plan_migration(OLD, new)
    gold = migrate_enrollment(plan, new, state(), (), {"tier": "gold"}, NOW)
    plain = migrate_enrollment(plan, new, state(), (), {"tier": "silver"}, NOW)
    assert gold is not None and gold.timer_due_at == NOW + timedelta(days=7)
    assert plain is not None and plain.timer_due_at is None


# --- properties ----------------------------------------------------------------------------

ACTIONS = st.builds(
    lambda key, entry, hours, cancel, kind, started: PendingAction(
        f"{key}-{entry}-{hours}-{cancel}-{kind}-{started}",
        entry,
        key,
        kind,
        T0 + timedelta(hours=hours),
        cancel,
        started,
    ),
    st.sampled_from(["hello", "nudge", "late", "keep", "thanks", "ghost"]),
    st.integers(0, 3),
    st.integers(0, 200),
    st.booleans(),
    st.sampled_from(["webhook", "email"]),
    st.booleans(),
)


@settings(max_examples=200, deadline=None)
@given(
    stage=st.sampled_from(["signup", "active", "legacy", "dormant"]),
    entry=st.integers(1, 3),
    actions=st.lists(ACTIONS, max_size=8, unique_by=lambda a: a.idempotency_key),
    minutes=st.integers(0, 10_000),
)
def test_every_pending_action_gets_one_fate_and_nothing_owed_is_cancelled(
    stage: str, entry: int, actions: list[PendingAction], minutes: int
) -> None:
    now = T0 + timedelta(minutes=minutes)
    s = state(stage, entry=entry)
    move = migrate_enrollment(PLAN, NEW, s, actions, {}, now)
    if stage == "legacy":
        assert move is None
        return
    assert move is not None
    carried = [old for old, _ in move.carried]
    cancelled = [k for k, _ in move.cancelled]
    fates = carried + cancelled + list(move.kept)
    assert sorted(fates) == sorted(a.idempotency_key for a in actions)
    by_key = {a.idempotency_key: a for a in actions}
    for key in carried + cancelled:
        a = by_key[key]
        # Only a delayed action of the stage entry being left, not yet due, not started.
        assert a.stage_entry == entry and a.cancel_on_leave and not a.send_started
        assert a.due_at > now
    new_keys = [new for _, new in move.carried]
    assert len(set(new_keys)) == len(new_keys)
    assert not set(new_keys) & set(by_key)
    # Idempotent: the moved enrollment is not moved again.
    assert migrate_enrollment(PLAN, NEW, move.state, actions, {}, now) is None
