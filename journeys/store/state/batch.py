"""One batch of decisions: events (or clock ticks) in, engine outcomes collected.

The batch owns no connection state beyond what it loaded; `writer.write` turns what
it collected into a handful of multi-row statements.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import Connection

from ...decisions import (
    AttributesSet,
    Decision,
    Ended,
    Enrolled,
    LeftStage,
    Outcome,
    ScheduledAction,
    Tick,
    Transitioned,
)
from ...engine import decide, next_timer
from ...model import Journey
from ..events import IncomingEvent
from ..registry import JourneyRegistry
from .load import CustomerRow, EnrollmentRow, load_customers, load_enrollments
from .result import BatchResult

_TICK = timedelta(microseconds=1)

# Sees every engine outcome's decisions as the batch takes them (journey coverage in
# scenario tests); production passes none.
Observer = Callable[[Sequence[Decision]], None]


class Batch:
    def __init__(
        self,
        conn: Connection,
        registry: JourneyRegistry,
        now: datetime,
        observe: Observer | None = None,
    ) -> None:
        self.conn = conn
        self.observe = observe
        self.registry = registry
        self.now = now
        self.keys = registry.keys
        self.customers: dict[str, CustomerRow] = {}
        self.current: dict[tuple[str, str], EnrollmentRow] = {}
        self.rows: list[EnrollmentRow] = []  # every enrollment loaded or created
        self.transitions: list[tuple[EnrollmentRow, Transitioned]] = []
        self.actions: list[tuple[EnrollmentRow, ScheduledAction]] = []
        # Idempotency keys of delayed actions the customer left before they fell due.
        self.void: list[tuple[str, datetime]] = []  # (key, when the customer left)
        # Actions another journey already scheduled for the same event: key -> why.
        self.duplicates: dict[str, str] = {}
        # (customer, code as typed, when) of events that carry a `promo_code`.
        self.redemptions: list[tuple[CustomerRow, str, datetime]] = []
        self.result = BatchResult()
        # Loaded by enrollment ids (the timer sweep): other journeys' rows are unknown.
        self.partial = False

    # --- loading ---------------------------------------------------------------------

    def load(
        self, external_ids: Iterable[str], enrollment_ids: Iterable[int] | None = None
    ) -> None:
        self.partial = enrollment_ids is not None
        self.customers = load_customers(self.conn, external_ids)
        by_id = {c.id: c for c in self.customers.values() if c.id is not None}
        self.current = load_enrollments(self.conn, by_id, self.keys, enrollment_ids)
        self.rows = list(self.current.values())
        self.registry.load_versions(
            self.conn, {(r.state.journey, r.state.version) for r in self.rows if r.state.active}
        )

    def customer(self, external_id: str) -> CustomerRow:
        row = self.customers.get(external_id)
        if row is None:
            row = self.customers[external_id] = CustomerRow(external_id)
        return row

    # --- deciding --------------------------------------------------------------------

    def journey_of(self, row: EnrollmentRow | None, key: str) -> Journey:
        if row is not None and row.state.active:
            return self.registry.get(key, row.state.version)
        return self.registry.latest(key)

    def timer_due(self, row: EnrollmentRow, changed_at: datetime | None = None) -> datetime | None:
        if changed_at is not None:  # before an event: its data is at hand (see Tick)
            journey = self.registry.get(row.state.journey, row.state.version)
            return next_timer(journey, row.state, row.customer.scope(), changed_at)
        cached = row.timer_cache
        if cached is not None and cached[0] is row.state:
            return cached[1]
        due = None
        if row.state.active:
            journey = self.registry.get(row.state.journey, row.state.version)
            due = next_timer(journey, row.state, row.customer.scope())
        row.timer_cache = (row.state, due)
        return due

    def apply_event(self, event: IncomingEvent) -> None:
        customer = self.customer(event.customer_id)
        if event.customer is not None:
            customer.apply_profile(event.customer)
        code = event.data.get("promo_code")
        if isinstance(code, str):
            self.redemptions.append((customer, code, event.occurred_at))
        stimulus = event.to_engine()
        until = min(event.occurred_at, self.now)
        first = len(self.actions)
        # The timers due before the event fire before it, with a segment move's
        # condition not read before the event that brought the data at hand.
        before = event.occurred_at + _TICK
        for key in self.keys:
            row = self.current.get((customer.external_id, key))
            if row is not None and row.state.active:
                due = self.timer_due(row, before)
                if due is not None and due <= until:
                    # Fire due timers on their own first: if they end the enrollment, the
                    # event may start a new one, and each outcome then concerns one row.
                    self.tick(row, until, before)
            journey = self.journey_of(row, key)
            outcome = decide(
                journey, row.state if row else None, customer.scope(), stimulus, self.now
            )
            self.take(customer, key, row, outcome)
        self._once_per_event(first, event.occurred_at)

    def _once_per_event(self, first: int, at: datetime) -> None:
        """The same message for the same event reaches a customer once, whichever of
        the journeys that react to the event schedule it (the first, in journey order,
        sends it; the others are recorded as skipped, with the reason)."""
        sender: dict[tuple[str, str, int], str] = {}
        for row, action in self.actions[first:]:
            if action.kind not in ("email", "sms") or action.template is None:
                continue
            # Only what leaves at the event itself: a delayed message may be voided later
            # in its own journey, and the customer would get neither.
            if action.due_at > at:
                continue
            message = (action.kind, action.template, id(row.customer))
            journey = sender.setdefault(message, action.journey)
            if journey != action.journey:
                self.duplicates[action.idempotency_key] = (
                    f"journey {journey} sends {action.template} for the same event"
                )

    def tick(self, row: EnrollmentRow, until: datetime, changed_at: datetime | None = None) -> None:
        customer = row.customer
        journey = self.registry.get(row.state.journey, row.state.version)
        tick = Tick(customer.external_id, changed_at)
        outcome = decide(journey, row.state, customer.scope(), tick, until)
        self.take(customer, row.state.journey, row, outcome)

    def take(
        self, customer: CustomerRow, key: str, row: EnrollmentRow | None, outcome: Outcome
    ) -> None:
        state = outcome.state
        if state is None:
            return
        if self.observe is not None and outcome.decisions:
            self.observe(outcome.decisions)
        if row is None or state.number != row.state.number:
            target = EnrollmentRow(customer, state)
            self.current[(customer.external_id, key)] = target
            self.rows.append(target)
        else:
            target = row
            target.state = state
        result = self.result
        for decision in outcome.decisions:
            if isinstance(decision, AttributesSet):
                customer.set_attributes(decision.values)
                continue
            owner = target
            if decision.number != target.state.number and row is not None:
                # Timers ended the previous enrollment within the same decision and the
                # event started a new one: the previous row follows from its decisions.
                owner = row
                _follow(row, decision)
            if isinstance(decision, Transitioned):
                self.transitions.append((owner, decision))
                result.transitions += 1
            elif isinstance(decision, ScheduledAction):
                self.actions.append((owner, decision))
            elif isinstance(decision, LeftStage):
                self.void.extend((key, decision.at) for key in decision.void)
            elif isinstance(decision, Enrolled):
                result.enrolled += 1
            elif isinstance(decision, Ended):
                result.ended += 1


def _follow(row: EnrollmentRow, decision: Decision) -> None:
    """Move a row's state along a decision the engine made about it (timer moves, ends)."""
    if isinstance(decision, Transitioned):
        row.state = replace(
            row.state,
            stage=decision.to_stage,
            stage_entry=decision.stage_entry,
            stage_entered_at=decision.at,
        )
    elif isinstance(decision, Ended):
        row.state = replace(row.state, status=decision.reason, ended_at=decision.at)
