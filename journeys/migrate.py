"""Carrying customers in flight to a newer version of their journey: pure decisions.

A version's `migrations:` says, per older version, where that version's stages went.
A stage of the old version whose key the new version also has carries over as it is,
unless the mapping says otherwise; a stage the new version lacks moves only where the
mapping says. Customers in a stage that is neither mapped nor kept stay on their
version, as every customer does without a migration.

Moving one enrollment is a stage entry at the moment of the migration (the history
stays monotonic, and delays in the new stage count from then), but not an arrival
through a trigger: the new stage's `on_enter` actions are not run, the customer had
their stage's actions already. Of the actions still pending:

- owed ones stay as they are: already due, `cancel_on_leave: false`, or from an earlier
  stage entry (the engine voided the rest of those when the customer left). A customer
  leaving a stage is owed these whatever the reason (see `LeftStage`);
- a delayed action the new stage also has (same key and kind, delayed and cancelled on
  leave) is *carried*: it keeps its content and due time and takes the new stage
  entry's idempotency key, so leaving the new stage voids it as the engine expects;
- every other delayed action waited on a stage the customer no longer is in: cancelled.

Nothing here reads the clock or the store; `journeys.store.state.migrating` executes it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from .decisions import EnrollmentState, Transitioned, idempotency_key
from .engine import next_timer
from .errors import JourneyflowError, did_you_mean
from .model import Journey, MoveToAction, SetAttributeAction

__all__ = [
    "Fate",
    "MigrationError",
    "MigrationPlan",
    "Move",
    "PendingAction",
    "action_fate",
    "migrate_enrollment",
    "migration_cause",
    "plan_migration",
]

Fate = Literal["carried", "kept", "cancelled"]


class MigrationError(JourneyflowError):
    """A migration cannot be planned: no mapping, or one that names unknown stages."""


def migration_cause(journey: str, from_version: int, to_version: int) -> str:
    """The cause of a migration's transitions, and the reason of the actions it cancels."""
    return f"migration:{journey}:{from_version}->{to_version}"


@dataclass(frozen=True)
class MigrationPlan:
    """What one `migrations:` entry does to the enrollments of one older version."""

    journey: str
    from_version: int
    to_version: int
    moves: Mapping[str, str]  # old stage -> stage of the new version, for every stage covered
    declared: frozenset[str]  # the old stages the mapping names (the others kept their key)
    stays: tuple[str, ...]  # old stages not covered: their customers stay on `from_version`

    @property
    def cause(self) -> str:
        return migration_cause(self.journey, self.from_version, self.to_version)


def plan_migration(old: Journey, new: Journey) -> MigrationPlan:
    """The plan of `new`'s migration from `old`'s version; MigrationError when `new`
    declares none, or its mapping names a stage one of the two versions lacks."""
    if old.journey != new.journey:
        raise MigrationError(f"'{old.journey}' and '{new.journey}' are different journeys")
    if old.version >= new.version:
        raise MigrationError(
            f"journey '{new.journey}': version {new.version} is not newer than "
            f"version {old.version}; a migration goes to a newer version"
        )
    found = [(i, m) for i, m in enumerate(new.migrations) if m.from_version == old.version]
    if not found:
        declared = sorted(m.from_version for m in new.migrations)
        also = f" (it declares {_versions(declared)})" if declared else ""
        raise MigrationError(
            f"journey '{new.journey}' version {new.version} declares no migration from "
            f"version {old.version}{also}; add `migrations: [{{from_version: {old.version}, "
            "stages: {old: new}}]` to it, or its customers stay on their version"
        )
    index, migration = found[0]
    for old_key, new_key in migration.stages.items():
        where = f"migrations.{index}.stages.{old_key}"
        if old_key not in old.stage_map:
            raise MigrationError(
                f"{where}: version {old.version} of '{old.journey}' has no stage "
                f"'{old_key}'{did_you_mean(old_key, old.stage_keys)}"
            )
        if new_key not in new.stage_map:
            raise MigrationError(
                f"{where}: version {new.version} has no stage "
                f"'{new_key}'{did_you_mean(new_key, new.stage_keys)}"
            )
    moves: dict[str, str] = {}
    stays: list[str] = []
    for key in old.stage_keys:
        target = migration.stages.get(key, key if key in new.stage_map else None)
        if target is None:
            stays.append(key)
        else:
            moves[key] = target
    return MigrationPlan(
        new.journey,
        old.version,
        new.version,
        moves,
        frozenset(migration.stages),
        tuple(stays),
    )


def _versions(numbers: list[int]) -> str:
    return "from version " + ", ".join(map(str, numbers))


@dataclass(frozen=True)
class PendingAction:
    """A pending row of the outbox, as much of it as a migration needs."""

    idempotency_key: str
    stage_entry: int
    action_key: str
    kind: str
    due_at: datetime
    cancel_on_leave: bool
    send_started: bool = False


def _carries(new: Journey, stage: str, action_key: str, kind: str) -> bool:
    """Whether `stage` of `new` has this action as one leaving the stage voids."""
    for action in new.stage(stage).on_enter:
        if action.action_key == action_key:
            return (
                action.kind == kind
                and action.after is not None
                and action.cancel_on_leave
                and not isinstance(action, MoveToAction | SetAttributeAction)
            )
    return False


def action_fate(
    plan: MigrationPlan,
    new: Journey,
    from_stage: str,
    *,
    action_key: str,
    kind: str,
    current: bool,
    cancel_on_leave: bool,
    due: bool,
    send_started: bool = False,
) -> tuple[Fate, str]:
    """What the migration does to one pending action of a customer in `from_stage`, and
    why. `current`: of the stage entry the customer leaves; `due`: due at the migration."""
    target = plan.moves[from_stage]
    if not current:
        return "kept", "owed from an earlier stage"
    if due or send_started:
        return "kept", "already due"
    if not cancel_on_leave:
        return "kept", "cancel_on_leave: false"
    if _carries(new, target, action_key, kind):
        return "carried", f"{target} has it too; its content and due time stay"
    return "cancelled", (
        f"cancelled by {plan.cause}: stage {target} of version {plan.to_version} "
        f"has no delayed {kind} '{action_key}'"
    )


@dataclass(frozen=True)
class Move:
    """What migrating one enrollment means: its new state, the transition to record,
    when its next timer falls due, and the fate of each pending action."""

    state: EnrollmentState
    transition: Transitioned
    timer_due_at: datetime | None
    carried: tuple[tuple[str, str], ...] = ()  # (old idempotency key, new one)
    cancelled: tuple[tuple[str, str], ...] = ()  # (idempotency key, reason)
    kept: tuple[str, ...] = ()


def migrate_enrollment(
    plan: MigrationPlan,
    new: Journey,
    state: EnrollmentState,
    pending: Iterable[PendingAction],
    customer: Mapping[str, Any],
    now: datetime,
) -> Move | None:
    """Move one enrollment along the plan; None when the plan does not concern it (ended,
    on another version, e.g. moved already, or in a stage the plan does not cover)."""
    if (
        not state.active
        or state.journey != plan.journey
        or state.version != plan.from_version
        or state.stage not in plan.moves
    ):
        return None
    target = plan.moves[state.stage]
    # Never before the current stage entry: the history of an enrollment runs forward.
    at = max(now, state.stage_entered_at)
    entry = state.stage_entry + 1
    moved = replace(
        state, version=plan.to_version, stage=target, stage_entry=entry, stage_entered_at=at
    )
    if new.stage(target).final:
        moved = replace(moved, status="completed", ended_at=at)
    carried: list[tuple[str, str]] = []
    cancelled: list[tuple[str, str]] = []
    kept: list[str] = []
    for action in pending:
        fate, why = action_fate(
            plan,
            new,
            state.stage,
            action_key=action.action_key,
            kind=action.kind,
            current=action.stage_entry == state.stage_entry,
            cancel_on_leave=action.cancel_on_leave,
            due=action.due_at <= at,
            send_started=action.send_started,
        )
        if fate == "carried":
            key = idempotency_key(
                state.journey, state.customer_id, state.number, entry, target, action.action_key
            )
            carried.append((action.idempotency_key, key))
        elif fate == "cancelled":
            cancelled.append((action.idempotency_key, why))
        else:
            kept.append(action.idempotency_key)
    transition = Transitioned(
        state.journey, state.customer_id, state.number, state.stage, target, entry, plan.cause, at
    )
    return Move(
        moved,
        transition,
        next_timer(new, moved, customer),
        tuple(carried),
        tuple(cancelled),
        tuple(kept),
    )
