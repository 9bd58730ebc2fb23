"""The figures of customers in flight, for `diff` and for a migration's dry run.

SQL aggregates only (the store may hold millions of enrollments): customers per stage
of a version, pending actions per stage and action, and for a dry run the pending
actions grouped by everything that decides their fate, which `journeys.migrate`
then decides once per group, exactly as it will per action.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, case, func, or_, select

from ...migrate import Fate, MigrationPlan, action_fate
from ...model import Journey
from ..tables import action_run_t, customer_t, enrollment_t

__all__ = [
    "ActionGroup",
    "MigrationPreview",
    "StageMove",
    "customers_by_stage",
    "pending_by_action",
    "preview_migration",
]

e, a = enrollment_t.c, action_run_t.c


def _in_flight(journey: str, version: int) -> tuple[ColumnElement[bool], ...]:
    return (e.journey == journey, e.version == version, e.status == "active")


def customers_by_stage(conn: Connection, journey: str, version: int) -> dict[str, int]:
    """Active enrollments of this version, per stage."""
    query = select(e.stage, func.count()).where(*_in_flight(journey, version)).group_by(e.stage)
    return {stage: int(n) for stage, n in conn.execute(query)}


def pending_by_action(conn: Connection, journey: str, version: int) -> dict[tuple[str, str], int]:
    """Pending actions of the stage entry the active enrollments of this version are in,
    per (stage, action key)."""
    query = (
        select(e.stage, a.action_key, func.count())
        .select_from(action_run_t.join(enrollment_t, e.id == a.enrollment_id))
        .where(*_in_flight(journey, version), a.status == "pending", a.stage_entry == e.stage_entry)
        .group_by(e.stage, a.action_key)
    )
    return {(stage, key): int(n) for stage, key, n in conn.execute(query)}


@dataclass(frozen=True)
class StageMove:
    stage: str
    target: str
    declared: bool  # named by the mapping (else the stage kept its key)
    customers: int
    first: tuple[str, ...]  # the first customers' ids, in enrollment order


@dataclass(frozen=True)
class ActionGroup:
    stage: str  # the stage its customers leave
    action_stage: str  # the stage that scheduled it (an earlier one for an owed action)
    action_key: str
    kind: str
    fate: Fate
    reason: str
    count: int


@dataclass(frozen=True)
class MigrationPreview:
    plan: MigrationPlan
    moves: tuple[StageMove, ...]
    stays: tuple[tuple[str, int], ...]  # (stage, customers who stay on the old version)
    actions: tuple[ActionGroup, ...]

    @property
    def moving(self) -> int:
        return sum(m.customers for m in self.moves)

    def count(self, fate: Fate) -> int:
        return sum(g.count for g in self.actions if g.fate == fate)


def _first(conn: Connection, plan: MigrationPlan, stage: str, sample: int) -> tuple[str, ...]:
    query = (
        select(customer_t.c.external_id)
        .join(enrollment_t, e.customer_id == customer_t.c.id)
        .where(*_in_flight(plan.journey, plan.from_version), e.stage == stage)
        .order_by(e.id)
        .limit(sample)
    )
    return tuple(conn.execute(query).scalars())


def _flag(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return case((condition, 1), else_=0)


def preview_migration(
    conn: Connection, plan: MigrationPlan, new: Journey, now: datetime, sample: int = 5
) -> MigrationPreview:
    """What running the plan at `now` would do, changing nothing."""
    counts = customers_by_stage(conn, plan.journey, plan.from_version)
    moves = tuple(
        StageMove(
            stage,
            target,
            stage in plan.declared,
            counts.get(stage, 0),
            _first(conn, plan, stage, sample) if counts.get(stage) else (),
        )
        for stage, target in plan.moves.items()
    )
    stays = tuple((s, counts[s]) for s in plan.stays if counts.get(s))
    # As `migrate_enrollment` decides: due at the migration, or at the stage entry when
    # that lies later.
    due = or_(a.due_at <= now, a.due_at <= e.stage_entered_at)
    facts = (
        e.stage,
        a.stage,
        a.action_key,
        a.kind,
        _flag(a.stage_entry == e.stage_entry),
        _flag(a.cancel_on_leave),
        _flag(due),
        _flag(a.send_started_at.is_not(None)),
    )
    query = (
        select(*facts, func.count())
        .select_from(action_run_t.join(enrollment_t, e.id == a.enrollment_id))
        .where(
            *_in_flight(plan.journey, plan.from_version),
            e.stage.in_(sorted(plan.moves)),
            a.status == "pending",
        )
        .group_by(*facts)
    )
    merged: dict[tuple[str, str, str, str, Fate, str], int] = {}
    for stage, origin, key, kind, current, cancel, is_due, started, n in conn.execute(query):
        fate, why = action_fate(
            plan,
            new,
            stage,
            action_key=key,
            kind=kind,
            current=bool(current),
            cancel_on_leave=bool(cancel),
            due=bool(is_due),
            send_started=bool(started),
        )
        group = (stage, origin, key, kind, fate, why)
        merged[group] = merged.get(group, 0) + int(n)
    actions = tuple(ActionGroup(*group, n) for group, n in sorted(merged.items()))
    return MigrationPreview(plan, moves, stays, actions)
