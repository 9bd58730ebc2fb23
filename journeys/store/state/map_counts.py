"""Live figures for the journey map: customers per stage, and per way between stages.

Two aggregates over the store (no rows loaded): the stage funnel (customers there now,
customers ever entered) and the transitions counted by (from stage, to stage), with
new customers as from None.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlmodel import Session

from ..reports import stage_funnel
from ..tables import stage_transition_t


def map_counts(
    session: Session, journey: str
) -> tuple[dict[str, tuple[int, int]], dict[tuple[str | None, str], int]]:
    """(now, entered) per stage, and customers per (from stage, to stage) of `journey`;
    raises `UnknownJourneyError` for a journey the store does not know."""
    stages = {row.stage: (row.current, row.entered) for row in stage_funnel(session, journey)}
    t = stage_transition_t.c
    moves = session.connection().execute(
        select(t.from_stage, t.to_stage, func.count(func.distinct(t.customer_id)))
        .where(t.journey == journey)
        .group_by(t.from_stage, t.to_stage)
    )
    return stages, {(source, target): int(n) for source, target, n in moves}
