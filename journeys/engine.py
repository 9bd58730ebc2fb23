"""The stage engine: pure decisions, no I/O.

Given a journey, one customer's enrollment state, a stimulus (an event or a clock
tick) and the time, `decide` returns the new state and what follows from it. It never
reads the wall clock or the database, so replays, simulations and tests agree.

Rules worth knowing:
- Events apply in `occurred_at` order. An event that happened at or before the moment
  the customer entered their current stage cannot move them out of it (it is stale);
  for events that arrive in time order this also makes a replay a no-op. Exactly-once
  application in general is the store's job (the inbox's UNIQUE source + id).
- Goal and exit events end the enrollment even when they arrive late (after the
  customer moved on), as long as they happened after the enrollment began.
- Timers (`after`, `no_event_for`, delayed `move_to`) fire at their due time, and due
  timers fire before a later event is applied.
- A segment move (`segment` with `from`) is a timer due when its condition on the
  customer holds: at the stage entry if it holds then, else at the change (an event,
  after the event's own triggers) or the moment time makes it true.
- Triggers are tried in declaration order; the first that matches wins. A trigger with
  no `from` does not fire for the stage the customer is already in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from .decisions import (
    AttributesSet,
    Decision,
    Ended,
    EndReason,
    EnrollmentState,
    Event,
    LeftStage,
    Outcome,
    ScheduledAction,
    Tick,
    Transitioned,
    idempotency_key,
)
from .engine_index import _index
from .engine_scope import _event_scope, _matches, _variant, customer_scope
from .engine_timers import _next_due, next_timer
from .model import (
    Journey,
    MoveToAction,
    SetAttributeAction,
    _Action,
    _MessageAction,
)
from .promo import for_customer
from .segments import enrol, enter_by_segment, may_enter
from .send_time import due_time

# A chain of immediate moves longer than this is a loop the validator should have
# caught; stop rather than spin.
MAX_CHAIN = 64
# Every timer fires strictly later than the stage entry it counts from, so the clock
# moves on with each; the bound only guards against a bug. A loop of delays over a
# long quiet spell fires many more than MAX_CHAIN (each of which must fire for the
# history to be right and a replayed event to change nothing).
MAX_TIMERS = 100_000
_TICK = timedelta(microseconds=1)

__all__ = ["MAX_CHAIN", "customer_scope", "decide", "next_timer"]


class _Run:
    """One call of `decide`: accumulates decisions while the state moves on."""

    __slots__ = ("customer", "ix", "journey", "out")

    def __init__(self, journey: Journey, customer: Mapping[str, Any]) -> None:
        self.journey = journey
        self.ix = _index(journey)
        self.customer = customer
        self.out: list[Decision] = []

    def enter(
        self,
        state: EnrollmentState,
        target: str,
        cause: str,
        at: datetime,
        event: Mapping[str, Any],
        trigger: int | None = None,
    ) -> EnrollmentState:
        for _ in range(MAX_CHAIN):
            state, move = self._enter_once(state, target, cause, at, event, trigger)
            if move is None:
                return state
            target, cause, trigger = move.move_to, f"move_to:{move.action_key}", None
        return state

    def _enter_once(
        self,
        state: EnrollmentState,
        target: str,
        cause: str,
        at: datetime,
        event: Mapping[str, Any],
        trigger: int | None,
    ) -> tuple[EnrollmentState, MoveToAction | None]:
        j = self.journey
        first = state.stage_entry == 0
        if not first:
            self.out.append(self._left(state, at))
        entry = state.stage_entry + 1
        self.out.append(
            Transitioned(
                j.journey,
                state.customer_id,
                state.number,
                None if first else state.stage,
                target,
                entry,
                cause,
                at,
                trigger,
            )
        )
        state = replace(state, stage=target, stage_entered_at=at, stage_entry=entry)
        stage = self.ix.stages[target]
        move: MoveToAction | None = None
        for action in stage.on_enter:
            if isinstance(action, MoveToAction) and action.after is not None:
                continue  # a timer: see _next_due
            cond = self.ix.conditions.get(id(action))
            if cond is not None and not cond.evaluate(
                {"event": event, "customer": self.customer, "stage": target}
            ):
                continue
            if isinstance(action, MoveToAction):
                move = move or action
            elif isinstance(action, SetAttributeAction):
                self._set_attributes(state.customer_id, action, target, at)
            else:
                self._schedule(state, target, action, at, event)
        if stage.final:
            self.out.append(
                Ended(j.journey, state.customer_id, state.number, "completed", cause, at)
            )
            return replace(state, status="completed", ended_at=at), None
        return state, move

    def _set_attributes(
        self, customer_id: str, action: SetAttributeAction, stage: str, at: datetime
    ) -> None:
        values = action.set_attribute
        self.out.append(AttributesSet(customer_id, dict(values), at, stage, action.action_key))
        merged = {**self.customer, **values}
        merged["attributes"] = {**self.customer.get("attributes", {}), **values}
        self.customer = merged

    def _schedule(
        self,
        state: EnrollmentState,
        stage: str,
        action: _Action,
        at: datetime,
        event: Mapping[str, Any],
    ) -> None:
        template = action.template if isinstance(action, _MessageAction) else None
        skip = None
        if action.timed:
            due, skip = due_time(action, at, event, self.customer, self.journey.settings)
        else:
            due = at + action.after if action.after is not None else at
        variant = None
        if isinstance(action, _MessageAction):
            picked = _variant(state.journey, state.customer_id, stage, action)
            if picked is not None:
                variant, template = picked
        key = action.action_key
        self.out.append(
            ScheduledAction(
                idempotency_key(
                    state.journey, state.customer_id, state.number, state.stage_entry, stage, key
                ),
                state.journey,
                state.version,
                state.customer_id,
                state.number,
                stage,
                state.stage_entry,
                key,
                action.kind,
                template,
                variant,
                due,
                action.cancel_on_leave and (action.after is not None or action.timed),
                for_customer(self.ix.params[id(action)], self.customer, self.journey.locale),
                skip,
            )
        )

    def end(
        self,
        state: EnrollmentState,
        reason: EndReason,
        cause: str,
        at: datetime,
        rule: int | None = None,
    ) -> EnrollmentState:
        j = self.journey
        self.out.append(self._left(state, at))
        self.out.append(Ended(j.journey, state.customer_id, state.number, reason, cause, at, rule))
        return replace(state, status=reason, ended_at=at)

    def _left(self, state: EnrollmentState, at: datetime) -> LeftStage:
        """Leaving a stage entry voids its delayed actions that are not due yet."""
        void = tuple(
            idempotency_key(
                state.journey,
                state.customer_id,
                state.number,
                state.stage_entry,
                state.stage,
                key,
            )
            for key, delay in self.ix.cancellable.get(state.stage, ())
            if delay is None or state.stage_entered_at + delay > at
        )
        return LeftStage(
            state.journey,
            state.customer_id,
            state.number,
            state.stage,
            state.stage_entry,
            at,
            void,
        )

    def advance(
        self,
        state: EnrollmentState,
        until: datetime,
        changed_at: datetime | None = None,
        change: str | None = None,
    ) -> EnrollmentState:
        """Fire the timers due by `until`, in time order. Segment moves count from
        `changed_at` when the customer's data changed then; one due at that moment is
        caused by the `change` (the event), not by time."""
        same_instant, last = 0, None
        for _ in range(MAX_TIMERS):
            due = _next_due(self.ix, state, self.customer, changed_at)
            if due is None or due[0] > until:
                break
            at, timer = due
            # Only segment moves fire at the instant of the stage entry; a ring of them
            # whose conditions all hold would turn forever (the validator warns of it).
            same_instant = same_instant + 1 if at == last else 0
            if same_instant >= MAX_CHAIN:
                break
            last = at
            cause = f"timer:{timer.label}"
            if change is not None and timer.segment is not None and at == changed_at:
                cause = change
            state = self.enter(state, timer.target, cause, at, {}, timer.trigger)
        return state


def decide(
    journey: Journey,
    state: EnrollmentState | None,
    customer: Mapping[str, Any],
    stimulus: Event | Tick,
    now: datetime,
) -> Outcome:
    """Decide what a stimulus means for one customer in one journey."""
    run = _Run(journey, customer)
    if isinstance(stimulus, Tick):
        if state is None or not state.active:
            # A segment whose condition came true by time passing (the store's timer).
            entered = enter_by_segment(run, state, stimulus.customer_id, now, "timer:segment")
            return Outcome(state) if entered is None else Outcome(entered, tuple(run.out))
        state = run.advance(state, now, stimulus.changed_at)
        return Outcome(state, tuple(run.out))

    event = stimulus
    at = event.occurred_at
    until = min(at, now)
    if state is not None and state.active:
        # The customer's data is as of this event: a segment move it makes true comes
        # after the event's own triggers, below, not before it.
        state = run.advance(state, until, changed_at=at + _TICK)
    if state is not None and state.active:
        if at <= state.stage_entered_at:
            if at > state.entered_at:
                state = _apply_end_rules(run, state, event)
            return Outcome(state, tuple(run.out))  # stale or replayed
        if at > state.last_event_at:
            state = replace(state, last_event_at=at)
        state = _apply_event(run, state, event)
    else:
        # run.out, not only what enrolling adds: the timers fired above may have just
        # ended the enrollment, and their decisions must not be lost.
        state, _ = _maybe_enroll(run, state, event)
    if state is not None and state.active:
        # Any event is a change of the customer: a segment move may hold now.
        state = run.advance(state, until, changed_at=at, change=f"event:{event.id}")
    return Outcome(state, tuple(run.out))


def _apply_event(run: _Run, state: EnrollmentState, event: Event) -> EnrollmentState:
    ix = run.ix
    etype = event.type
    relevant = etype in ix.by_event or (ix.goal and ix.goal[0] == etype) or ix.exits
    if not relevant:
        return state
    scope = _event_scope(event, run.customer, state.stage)
    ended = _apply_end_rules(run, state, event, scope)
    if ended is not state:
        return ended
    for target, trig, cond, n in ix.by_event.get(etype, ()):
        if trig.from_ is None:
            if target == state.stage:
                continue
        elif state.stage not in trig.from_:
            continue
        if cond is None or cond.evaluate(scope):
            cause = f"event:{event.id}"
            return run.enter(state, target, cause, event.occurred_at, scope["event"], n)
    return state


def _apply_end_rules(
    run: _Run, state: EnrollmentState, event: Event, scope: Mapping[str, Any] | None = None
) -> EnrollmentState:
    ix = run.ix
    if scope is None:
        scope = _event_scope(event, run.customer, state.stage)
    cause = f"event:{event.id}"
    # A late end event is recorded at the latest point of the history, keeping it monotonic.
    at = max(event.occurred_at, state.stage_entered_at)
    if ix.goal is not None and _matches(ix.goal, event.type, scope):
        return run.end(state, "goal", cause, at)
    for n, rule in enumerate(ix.exits):
        if _matches(rule, event.type, scope):
            return run.end(state, "exited", cause, at, n)
    return state


def _maybe_enroll(
    run: _Run, previous: EnrollmentState | None, event: Event
) -> tuple[EnrollmentState | None, tuple[Decision, ...]]:
    ix, at, cause = run.ix, event.occurred_at, f"event:{event.id}"
    candidates = ix.entry_by_event.get(event.type, ())
    if not may_enter(run.journey, previous, at):
        return previous, ()
    scope = _event_scope(event, run.customer, None)
    if candidates and (ix.entry_where is None or ix.entry_where.evaluate(scope)):
        for stage, cond, n in candidates:
            if cond is None or cond.evaluate(scope):
                state = enrol(run, previous, event.customer_id, stage, at, cause, scope["event"], n)
                return state, tuple(run.out)
    # Any event is a change of the customer: their segments may hold now.
    entered = enter_by_segment(run, previous, event.customer_id, at, cause)
    return (previous, ()) if entered is None else (entered, tuple(run.out))
