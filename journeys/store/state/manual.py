"""A command by hand (enrol, move to a stage, exit) applied like an event's decisions.

The same batch and writer as the event path: the customer is locked, the engine
decides (`journeys.engine_manual`), and enrollments, stage history, actions on enter
and voided delayed actions are written in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ...engine_manual import Command, Manual, ManualRefused, decide_manual
from ...errors import did_you_mean
from ..registry import JourneyRegistry
from ..sql import connection_of, lock_customers
from .batch import Batch
from .result import BatchResult
from .writer import write


def apply_manual(
    db: Any,
    registry: JourneyRegistry,
    external_id: str,
    journey: str,
    command: Command,
    *,
    cause: str,
    now: datetime,
    stage: str | None = None,
) -> BatchResult:
    """Apply `command` for the customer in `journey`; raises ManualRefused naming why."""
    conn = connection_of(db)
    if journey not in registry:
        raise ManualRefused(f"unknown journey '{journey}'{did_you_mean(journey, registry.keys)}")
    lock_customers(conn, [external_id])
    batch = Batch(conn, registry, now)
    batch.load([external_id])
    customer = batch.customers.get(external_id)
    if customer is None:
        raise ManualRefused(f"unknown customer '{external_id}'")
    row = batch.current.get((external_id, journey))
    outcome = decide_manual(
        batch.journey_of(row, journey),
        row.state if row is not None else None,
        customer.scope(),
        Manual(command, external_id, cause[:300], now, stage),
    )
    batch.take(customer, journey, row, outcome)
    write(conn, batch, now)
    return batch.result
