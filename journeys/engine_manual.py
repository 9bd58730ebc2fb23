"""Decisions made by hand (support, the people API): enrol, move to a stage, exit.

Pure, like `engine.decide`: the same re-entry rules and the same stage entry (actions
on enter, delayed actions voided on leaving) as an event, only the cause is a person's
command, which the transition records ("api:<token name>").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from .decisions import Enrolled, EnrollmentState, Outcome
from .engine import _Run
from .errors import JourneyflowError, did_you_mean
from .model import Journey

Command = Literal["enrol", "move", "exit"]
COMMANDS = ("enrol", "move", "exit")


class ManualRefused(JourneyflowError):
    """The command does not apply to the customer's state (named in the message)."""


@dataclass(frozen=True, slots=True)
class Manual:
    command: Command
    customer_id: str
    cause: str
    at: datetime
    stage: str | None = None


def decide_manual(
    journey: Journey, state: EnrollmentState | None, customer: Mapping[str, Any], manual: Manual
) -> Outcome:
    """What `manual` means for one customer in one journey; raises ManualRefused."""
    run = _Run(journey, customer)
    stages = [s.key for s in journey.stages]
    if manual.stage is not None and manual.stage not in stages:
        raise ManualRefused(
            f"journey {journey.journey} has no stage '{manual.stage}'"
            f"{did_you_mean(manual.stage, stages)}"
        )
    active = state is not None and state.active
    at = manual.at
    if manual.command == "exit":
        if state is None or not active:
            raise ManualRefused(f"the customer is not in journey {journey.journey}")
        state = run.advance(state, at)
        if not state.active:
            return Outcome(state, tuple(run.out))
        return Outcome(run.end(state, "exited", manual.cause, at), tuple(run.out))
    if manual.command == "move":
        if state is None or not active:
            raise ManualRefused(f"the customer is not in journey {journey.journey}: enrol first")
        if manual.stage is None:
            raise ManualRefused("a move names the stage")
        state = replace(run.advance(state, at), last_event_at=max(state.last_event_at, at))
        if not state.active:
            raise ManualRefused(f"the enrollment in {journey.journey} ended meanwhile")
        return Outcome(run.enter(state, manual.stage, manual.cause, at, {}), tuple(run.out))
    if active:
        raise ManualRefused(f"the customer is already in journey {journey.journey}")
    _check_reentry(journey, state, at)
    stage = manual.stage or stages[0]
    number = state.number + 1 if state is not None else 1
    fresh = EnrollmentState(
        journey=journey.journey,
        version=journey.version,
        customer_id=manual.customer_id,
        number=number,
        stage=stage,
        status="active",
        entered_at=at,
        stage_entered_at=at,
        stage_entry=0,
        last_event_at=at,
    )
    run.out.append(
        Enrolled(journey.journey, journey.version, manual.customer_id, number, stage, at)
    )
    return Outcome(run.enter(fresh, stage, manual.cause, at, {}), tuple(run.out))


def _check_reentry(journey: Journey, previous: EnrollmentState | None, at: datetime) -> None:
    if previous is None:
        return
    ended = previous.ended_at or previous.stage_entered_at
    policy = journey.reentry
    if at <= ended:
        raise ManualRefused("the previous enrollment ended at or after this time")
    if policy.policy == "never":
        raise ManualRefused(f"journey {journey.journey} allows no re-entry (reentry: never)")
    if policy.policy == "after_cooldown" and policy.cooldown and at < ended + policy.cooldown:
        raise ManualRefused(
            f"journey {journey.journey} allows re-entry {policy.cooldown} after the last ended"
        )
