"""What the stage engine consumes and what it decides.

Plain frozen dataclasses: the engine is on the hot path (microseconds per event),
and these cross the border to the store, which turns them into rows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Status = Literal["active", "completed", "exited", "goal"]
EndReason = Literal["completed", "exited", "goal"]


@dataclass(frozen=True, slots=True)
class Event:
    """Something a customer did (or that happened to them), as the engine sees it."""

    id: str
    type: str
    customer_id: str
    occurred_at: datetime
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tick:
    """The clock moved on: fire the timers that fell due up to `now`.

    `changed_at`: the customer's data as given already holds a change made then (the
    timers due before an event fire with the event's data at hand), so a segment move
    is not dated before it."""

    customer_id: str
    changed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class EnrollmentState:
    """One customer's place in one journey. `number` counts re-entries (1 = first)."""

    journey: str
    version: int
    customer_id: str
    number: int
    stage: str
    status: Status
    entered_at: datetime
    stage_entered_at: datetime
    stage_entry: int
    last_event_at: datetime
    ended_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.status == "active"


@dataclass(frozen=True, slots=True)
class Enrolled:
    journey: str
    version: int
    customer_id: str
    number: int
    stage: str
    at: datetime


@dataclass(frozen=True, slots=True)
class Transitioned:
    """The customer moved stage.

    `cause` is 'event:<id>', 'timer:<after|no_event_for>:<duration>', 'timer:move_to:<action>'
    (a delayed move) or 'move_to:<action>' (an immediate one). `trigger` is the index in
    the target stage's `enter_when` of the trigger that fired (None for a move): journey
    coverage reports which triggers a test reached; the store does not keep it.
    """

    journey: str
    customer_id: str
    number: int
    from_stage: str | None
    to_stage: str
    stage_entry: int
    cause: str
    at: datetime
    trigger: int | None = None


@dataclass(frozen=True, slots=True)
class ScheduledAction:
    """An action to run at `due_at`; `idempotency_key` makes it run at most once."""

    idempotency_key: str
    journey: str
    version: int
    customer_id: str
    number: int
    stage: str
    stage_entry: int
    action_key: str
    kind: str
    template: str | None
    variant: str | None
    due_at: datetime
    cancel_on_leave: bool
    params: Mapping[str, Any] = field(default_factory=dict)
    # Recorded as skipped at once, with this reason (a date that has passed, none given).
    skip: str | None = None


@dataclass(frozen=True, slots=True)
class LeftStage:
    """The customer left a stage entry; `void` are the idempotency keys of its delayed
    actions that were not yet due and wait on the customer being there: drop them."""

    journey: str
    customer_id: str
    number: int
    stage: str
    stage_entry: int
    at: datetime
    void: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AttributesSet:
    """A `set_attribute` action ran; `stage` and `action` name it (for journey coverage)."""

    customer_id: str
    values: Mapping[str, Any]
    at: datetime
    stage: str | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class Ended:
    """The enrollment ended; for reason 'exited', `rule` is the index of the `exit` rule."""

    journey: str
    customer_id: str
    number: int
    reason: EndReason
    cause: str
    at: datetime
    rule: int | None = None


Decision = Enrolled | Transitioned | ScheduledAction | LeftStage | AttributesSet | Ended


@dataclass(frozen=True, slots=True)
class Outcome:
    """The engine's answer: the state after the stimulus, and what follows from it."""

    state: EnrollmentState | None
    decisions: tuple[Decision, ...] = ()

    @property
    def changed(self) -> bool:
        return bool(self.decisions)


def idempotency_key(
    journey: str, customer_id: str, number: int, stage_entry: int, stage: str, action_key: str
) -> str:
    """Stable key of one action in one stage entry of one enrollment.

    Hashed so that arbitrary customer ids (slashes, e-mail addresses) give a fixed-size,
    opaque key that is safe to hand to providers as a custom argument.
    """
    raw = f"{journey}\x1f{customer_id}\x1f{number}\x1f{stage_entry}\x1f{stage}\x1f{action_key}"
    return hashlib.blake2b(raw.encode(), digest_size=16).hexdigest()
