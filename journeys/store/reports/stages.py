"""The stage funnel as it stands: per stage, customers there now and customers ever there."""

from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import distinct, func, select
from sqlmodel import Session

from ...errors import UnknownJourneyError
from ..tables import enrollment_t, journey_version_t, stage_transition_t


class FunnelRow(NamedTuple):
    journey: str
    stage: str
    current: int  # customers in the stage now (active, or completed in a final stage)
    entered: int  # customers who ever entered the stage


def _stage_orders(session: Session) -> dict[str, list[str]]:
    """Stage order per journey: the latest version's stages, then older ones' leftovers."""
    rows = session.connection().execute(
        select(
            journey_version_t.c.journey,
            journey_version_t.c.version,
            journey_version_t.c.definition,
        ).order_by(journey_version_t.c.journey, journey_version_t.c.version.desc())
    )
    orders: dict[str, list[str]] = {}
    for key, _version, definition in rows:
        order = orders.setdefault(key, [])
        for stage in _stage_keys(definition):
            if stage not in order:
                order.append(stage)
    return orders


def _stage_keys(definition: Any) -> list[str]:
    return [str(stage["key"]) for stage in definition.get("stages", [])]


def stage_funnel(session: Session, journey: str | None = None) -> list[FunnelRow]:
    """Per journey and stage, in the journey's stage order: customers there now, and ever."""
    conn = session.connection()
    orders = _stage_orders(session)
    if journey is not None:
        if journey not in orders:
            raise UnknownJourneyError(journey, orders)
        orders = {journey: orders[journey]}
    current_q = (
        select(enrollment_t.c.journey, enrollment_t.c.stage, func.count())
        .where(enrollment_t.c.status.in_(("active", "completed")))
        .group_by(enrollment_t.c.journey, enrollment_t.c.stage)
    )
    entered_q = select(
        stage_transition_t.c.journey,
        stage_transition_t.c.to_stage,
        func.count(distinct(stage_transition_t.c.customer_id)),
    ).group_by(stage_transition_t.c.journey, stage_transition_t.c.to_stage)
    if journey is not None:
        current_q = current_q.where(enrollment_t.c.journey == journey)
        entered_q = entered_q.where(stage_transition_t.c.journey == journey)
    current = {(j, s): n for j, s, n in conn.execute(current_q)}
    entered = {(j, s): n for j, s, n in conn.execute(entered_q)}
    rows: list[FunnelRow] = []
    for key in sorted(orders):
        stages = orders[key] + sorted(
            {s for j, s in (*current, *entered) if j == key} - set(orders[key])
        )
        rows.extend(
            FunnelRow(key, s, current.get((key, s), 0), entered.get((key, s), 0)) for s in stages
        )
    return rows
