"""In-memory state of one batch: its customers and enrollments, loaded in bulk.

A batch reads every row it needs with a few SELECT … IN statements, lets the engine
decide on plain objects, and hands what changed to `writer`. No ORM instances: at
thousands of events per second, per-row ORM bookkeeping would cost more than the
decisions themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from ...decisions import EnrollmentState
from ...engine import customer_scope
from ..events import PROFILE_FIELDS, CustomerProfile
from ..people.bulk import BulkRead
from ..sql import chunks
from ..tables import customer_t, enrollment_t


class CustomerRow:
    __slots__ = ("attributes", "changed", "external_id", "fields", "id", "scope_cache")

    def __init__(
        self,
        external_id: str,
        id: int | None = None,
        fields: dict[str, Any] | None = None,
        attributes: dict[str, Any] | None = None,
    ) -> None:
        self.external_id = external_id
        self.id = id
        self.fields: dict[str, Any] = fields if fields is not None else {}
        self.attributes: dict[str, Any] = attributes if attributes is not None else {}
        self.changed = id is None
        self.scope_cache: dict[str, Any] | None = None

    def scope(self) -> dict[str, Any]:
        """The `customer` mapping the engine's conditions read (cached until a change)."""
        if self.scope_cache is None:
            self.scope_cache = customer_scope(self.external_id, self.fields, self.attributes)
        return self.scope_cache

    def apply_profile(self, profile: CustomerProfile) -> None:
        self.apply_fields(profile.fields(), profile.attributes)

    def apply_fields(self, given: Mapping[str, Any], attributes: Mapping[str, Any]) -> None:
        """Given profile columns replace the stored ones; attributes merge."""
        if any(self.fields.get(k) != v for k, v in given.items()):
            self.fields.update(given)
            self.changed = True
            self.scope_cache = None
        if attributes:
            self.set_attributes(attributes)

    def set_attributes(self, values: Mapping[str, Any]) -> None:
        if any(self.attributes.get(k, _MISSING) != v for k, v in values.items()):
            self.attributes = {**self.attributes, **values}
            self.changed = True
            self.scope_cache = None


_MISSING = object()


class EnrollmentRow:
    """One enrollment as the batch sees it; `id` is None until it is inserted."""

    __slots__ = ("customer", "id", "loaded", "state", "timer_cache")

    def __init__(
        self,
        customer: CustomerRow,
        state: EnrollmentState,
        id: int | None = None,
        timer_due_at: datetime | None = None,
    ) -> None:
        self.customer = customer
        self.state = state
        self.id = id
        # The state as stored (None for a new enrollment): unchanged rows are not written.
        self.loaded: EnrollmentState | None = state if id is not None else None
        self.timer_cache: tuple[EnrollmentState, datetime | None] | None = (
            (state, timer_due_at) if id is not None else None
        )

    @property
    def dirty(self) -> bool:
        return self.loaded is not self.state


_customers = BulkRead(
    customer_t, ("id", "external_id", *PROFILE_FIELDS, "attributes"), key="external_id"
)


def load_customers(conn: Connection, external_ids: Iterable[str]) -> dict[str, CustomerRow]:
    found: dict[str, CustomerRow] = {}
    for row in _customers.rows(conn, sorted(set(external_ids))):
        fields = {k: v for k, v in zip(PROFILE_FIELDS, row[2:-1], strict=True) if v is not None}
        found[row[1]] = CustomerRow(row[1], row[0], fields, dict(row[-1] or {}))
    return found


_ENROLLMENT_COLUMNS = (
    enrollment_t.c.id,
    enrollment_t.c.customer_id,
    enrollment_t.c.journey,
    enrollment_t.c.version,
    enrollment_t.c.number,
    enrollment_t.c.stage,
    enrollment_t.c.status,
    enrollment_t.c.entered_at,
    enrollment_t.c.stage_entered_at,
    enrollment_t.c.stage_entry,
    enrollment_t.c.last_event_at,
    enrollment_t.c.ended_at,
    enrollment_t.c.timer_due_at,
)


def load_enrollments(
    conn: Connection,
    customers: Mapping[int, CustomerRow],
    journeys: Iterable[str],
    ids: Iterable[int] | None = None,
) -> dict[tuple[str, str], EnrollmentRow]:
    """The latest enrollment per (customer external id, journey) of these customers.

    With `ids`, only those enrollments (the timer sweep); otherwise every journey in
    `journeys` for every customer in `customers`.
    """
    latest: dict[tuple[str, str], EnrollmentRow] = {}
    keys = sorted(set(journeys))
    if ids is not None:
        column, values = enrollment_t.c.id, sorted(set(ids))
    else:
        column, values = enrollment_t.c.customer_id, sorted(customers)
    for part in chunks(values):
        query = select(*_ENROLLMENT_COLUMNS).where(
            column.in_(part), enrollment_t.c.journey.in_(keys)
        )
        for row in conn.execute(query):
            customer = customers[row[1]]
            key = (customer.external_id, row[2])
            held = latest.get(key)
            if held is not None and held.state.number > row[4]:
                continue
            state = EnrollmentState(
                journey=row[2],
                version=row[3],
                customer_id=customer.external_id,
                number=row[4],
                stage=row[5],
                status=row[6],
                entered_at=row[7],
                stage_entered_at=row[8],
                stage_entry=row[9],
                last_event_at=row[10],
                ended_at=row[11],
            )
            latest[key] = EnrollmentRow(customer, state, row[0], row[12])
    return latest
