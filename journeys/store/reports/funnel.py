"""The funnel of a period: who is in each stage, who entered, where they went next,
who left the journey, and how many reached its goal.

- `in_stage`: enrollments in the stage at `until` (open visits, see `visits`).
- `entered`: customers who entered the stage in the period.
- edges: of the customers who entered stage A in the period, those whose next stage
  (before `until`) was B; `conversion_pct` = moved / entered(A). A customer who
  enters A twice in the period may count on two edges.
- `exited`, `goal` (per stage): enrollments that ended there in the period, by an
  exit rule or the journey's goal.
- outcomes: enrollments begun in the period (`enrolled`); ended in the period by
  completing (a final stage), an exit or the goal; and `goal_pct`, the share of the
  enrollments begun in the period that reached the goal before `until`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection, distinct, func, select

from ...kpi_math import pct
from ..tables import customer_t, enrollment_t
from .period import Period, SliceKey, slice_of, stage_orders
from .rows import SliceRow, slice_fields, slice_order
from .visits import visits


class StageRow(SliceRow):
    stage: str
    in_stage: int
    entered: int
    exited: int
    goal: int


class EdgeRow(SliceRow):
    from_stage: str
    to_stage: str
    moved: int
    conversion_pct: float | None


class OutcomeRow(SliceRow):
    enrolled: int
    completed: int
    exited: int
    goal: int
    goal_pct: float | None  # of the enrollments begun in the period


class Funnel(BaseModel):
    stages: list[StageRow]
    edges: list[EdgeRow]
    outcomes: list[OutcomeRow]


def funnel(conn: Connection, period: Period) -> Funnel:
    orders = stage_orders(conn, period)
    v = visits(period).c
    keys = [v.journey, v.version, *([v.segment] if period.by else [])]
    per_stage: dict[tuple[SliceKey, str], list[int]] = {}
    in_period = v.entered_at >= period.since if period.since is not None else None
    customers = func.count(distinct(v.customer_id))
    entered = customers if in_period is None else customers.filter(in_period)
    for row in conn.execute(
        select(*keys, v.stage, func.count().filter(v.left_at.is_(None)), entered).group_by(
            *keys, v.stage
        )
    ):
        key, i = slice_of(row, period)
        per_stage[(key, row[i])] = [row[i + 1], row[i + 2], 0, 0]
    for key, stage, status, n in _ends_by_stage(conn, period):
        counts = per_stage.setdefault((key, stage), [0, 0, 0, 0])
        counts[2 if status == "exited" else 3] = n

    moved = select(*keys, v.stage, v.next_stage, func.count(distinct(v.customer_id))).where(
        v.next_stage.is_not(None)
    )
    if in_period is not None:
        moved = moved.where(in_period)
    edges = []
    for row in conn.execute(moved.group_by(*keys, v.stage, v.next_stage)):
        key, i = slice_of(row, period)
        base = per_stage.get((key, row[i]), [0, 0])[1]
        edges.append(
            EdgeRow(
                **slice_fields(key),
                from_stage=row[i],
                to_stage=row[i + 1],
                moved=row[i + 2],
                conversion_pct=pct(row[i + 2], base),
            )
        )

    slices = {key for key, _ in per_stage}
    if period.by is None:
        slices |= {(j, ver, None) for j, ver in orders}
    stages = []
    for key in sorted(slices, key=slice_order):
        known = orders.get((str(key[0]), int(key[1] or 0)), [])
        seen = sorted({s for k, s in per_stage if k == key} - set(known))
        for stage in known + seen:
            n_in, n_entered, n_exited, n_goal = per_stage.get((key, stage), [0, 0, 0, 0])
            stages.append(
                StageRow(
                    **slice_fields(key),
                    stage=stage,
                    in_stage=n_in,
                    entered=n_entered,
                    exited=n_exited,
                    goal=n_goal,
                )
            )
    rank = {(row.journey, row.version, row.segment, row.stage): i for i, row in enumerate(stages)}
    edges.sort(
        key=lambda e: (
            rank.get((e.journey, e.version, e.segment, e.from_stage), 0),
            rank.get((e.journey, e.version, e.segment, e.to_stage), 0),
        )
    )
    return Funnel(stages=stages, edges=edges, outcomes=_outcomes(conn, period, slices))


def _joined(period: Period) -> Any:
    en = enrollment_t
    if period.by is None:
        return en
    return en.join(customer_t, customer_t.c.id == en.c.customer_id)


def _ends_by_stage(conn: Connection, period: Period) -> list[tuple[SliceKey, str, str, int]]:
    en = enrollment_t.c
    query = (
        select(en.journey, en.version, *period.segment(), en.stage, en.status, func.count())
        .select_from(_joined(period))
        .where(
            period.journeys(en.journey, en.version),
            en.status.in_(("exited", "goal")),
            period.within(en.ended_at),
        )
        .group_by(en.journey, en.version, *period.segment(), en.stage, en.status)
    )
    found = []
    for row in conn.execute(query):
        key, i = slice_of(row, period)
        found.append((key, row[i], row[i + 1], row[i + 2]))
    return found


def _outcomes(conn: Connection, period: Period, slices: set[SliceKey]) -> list[OutcomeRow]:
    en = enrollment_t.c
    began = period.within(en.entered_at)
    ended = period.within(en.ended_at)
    query = (
        select(
            en.journey,
            en.version,
            *period.segment(),
            func.count().filter(began),
            func.count().filter(ended, en.status == "completed"),
            func.count().filter(ended, en.status == "exited"),
            func.count().filter(ended, en.status == "goal"),
            func.count().filter(began, en.status == "goal", period.before_end(en.ended_at)),
        )
        .select_from(_joined(period))
        .where(period.journeys(en.journey, en.version), en.entered_at < period.until)
        .group_by(en.journey, en.version, *period.segment())
    )
    counts: dict[SliceKey, tuple[int, ...]] = {}
    for row in conn.execute(query):
        key, i = slice_of(row, period)
        counts[key] = tuple(row[i:])
    rows = []
    for key in sorted(slices | set(counts), key=slice_order):
        enrolled, completed, exited, goal, converted = counts.get(key, (0, 0, 0, 0, 0))
        rows.append(
            OutcomeRow(
                **slice_fields(key),
                enrolled=enrolled,
                completed=completed,
                exited=exited,
                goal=goal,
                goal_pct=pct(converted, enrolled),
            )
        )
    return rows
