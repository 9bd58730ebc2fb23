"""Factories for journey tests: journeys, customers, events and a scripted driver.

The driver plays the part the store plays in production: it keeps one customer's
enrollment state between calls of the pure engine, folds `AttributesSet` decisions
back into the customer, and records every decision in order, so a test reads like
"given this journey, when these things happen, then these decisions follow".
"""

from __future__ import annotations

import copy
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from journeys.decisions import (
    AttributesSet,
    Decision,
    Ended,
    Enrolled,
    EnrollmentState,
    Event,
    LeftStage,
    Outcome,
    ScheduledAction,
    Tick,
    Transitioned,
)
from journeys.engine import customer_scope, decide
from journeys.loader import read_yaml
from journeys.model import Journey

# A Monday morning, so that day offsets in scenarios read naturally.
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)

POST_PURCHASE_YAML = """\
journey: post_purchase
version: 3
name: {de: Nach dem Kauf, en: After the purchase}
locale: en
goal: {event: subscription.started}
exit:
  - {event: account.closed}
reentry: {policy: never}
stages:
  - key: purchase
    enter_when: {event: order.completed}
    on_enter:
      - email: thank_you
        marketing: false
  - key: evaluation
    enter_when: {event: order.delivered, from: [purchase]}
    on_enter:
      - after: 3d
        email: review_request
        promo_code: {discount: "10%", valid_for: 30d, prefix: REVIEW}
      - after: 10d
        key: survey_webhook
        webhook: survey_tool
        cancel_on_leave: false
  - key: loyalty
    enter_when: {event: review.submitted, where: "rating >= 4", from: [evaluation]}
    on_enter:
      - set_attribute: {advocate: true}
      - email: referral_request
        when: "customer.advocate == true and customer.country in ['DE', 'AT']"
        variants:
          - {key: personal, weight: 70, template: referral_personal}
          - {key: holdout, weight: 30}
  - key: complaint
    enter_when: {event: review.submitted, where: "rating <= 2", from: [evaluation]}
    on_enter:
      - set_attribute: {needs_care: true}
      - webhook: crm_ticket
        key: crm_ticket
      - move_to: care
        key: hand_over
  - key: care
    on_enter:
      - email: apology
        when: "customer.needs_care == true"
      - email: voucher
        when: "customer.tier == 'gold'"
      - after: 14d
        move_to: loyalty
        key: back_to_loyalty
  - key: dormant
    enter_when:
      - {no_event_for: 60d, from: [loyalty]}
      - {after: 30d, from: [evaluation]}
    on_enter:
      - sms: we_miss_you
    final: true
"""


def days(n: float) -> timedelta:
    return timedelta(days=n)


def at(d: float = 0, h: float = 0, m: float = 0) -> datetime:
    """A moment `d` days, `h` hours and `m` minutes after T0."""
    return T0 + timedelta(days=d, hours=h, minutes=m)


def journey_data(text: str) -> dict[str, Any]:
    """Journey YAML as plain data, read with the project's own YAML rules."""
    data, _ = read_yaml(textwrap.dedent(text))
    assert isinstance(data, dict)
    return data


def build_journey(definition: str | Mapping[str, Any], **changes: Any) -> Journey:
    """A Journey from YAML text or plain data, with top-level fields replaced by `changes`."""
    data = journey_data(definition) if isinstance(definition, str) else copy.deepcopy(definition)
    data = {**data, **changes}
    return Journey.model_validate(data)


def post_purchase(**changes: Any) -> Journey:
    return build_journey(POST_PURCHASE_YAML, **changes)


def make_customer(
    customer_id: str = "c1", attributes: Mapping[str, Any] | None = None, **fields: Any
) -> dict[str, Any]:
    """The customer mapping conditions see: profile `fields` plus the attributes JSON."""
    profile = {"country": "DE", "locale": "de", **fields}
    return customer_scope(customer_id, profile, attributes or {})


def make_event(
    type_: str,
    when: datetime,
    customer_id: str = "c1",
    event_id: str | None = None,
    **data: Any,
) -> Event:
    return Event(
        id=event_id or f"{type_}@{when.isoformat()}",
        type=type_,
        customer_id=customer_id,
        occurred_at=when,
        data=data,
    )


D = TypeVar("D", bound=Decision)


def of_type(decisions: Iterable[Decision], kind: type[D]) -> list[D]:
    return [d for d in decisions if isinstance(d, kind)]


@dataclass
class Driver:
    """One customer living through one journey, one stimulus at a time."""

    journey: Journey
    customer_id: str = "c1"
    profile: dict[str, Any] = field(default_factory=lambda: {"country": "DE", "locale": "de"})
    attributes: dict[str, Any] = field(default_factory=dict)
    state: EnrollmentState | None = None
    log: list[Decision] = field(default_factory=list)
    applied: list[Event] = field(default_factory=list)
    now: datetime = T0

    @property
    def customer(self) -> dict[str, Any]:
        return customer_scope(self.customer_id, self.profile, self.attributes)

    def send(
        self,
        type_: str,
        when: datetime,
        event_id: str | None = None,
        now: datetime | None = None,
        **data: Any,
    ) -> Outcome:
        """An event that occurred at `when`, processed at `now` (default: as it happens)."""
        event = make_event(type_, when, self.customer_id, event_id, **data)
        return self.apply(event, now)

    def apply(self, event: Event, now: datetime | None = None, replay: bool = False) -> Outcome:
        """Apply an event; a replay (a redelivery) is not recorded as a new arrival."""
        self.now = max(self.now, now or event.occurred_at)
        outcome = self._decide(event)
        if not replay:
            self.applied.append(event)
        return outcome

    def overtaken(self, event: Event) -> bool:
        """Did an event that occurred earlier arrive after this one?"""
        index = self.applied.index(event)
        return any(e.occurred_at < event.occurred_at for e in self.applied[index + 1 :])

    def tick(self, now: datetime) -> Outcome:
        self.now = max(self.now, now)
        return self._decide(Tick(self.customer_id))

    def _decide(self, stimulus: Event | Tick) -> Outcome:
        outcome = decide(self.journey, self.state, self.customer, stimulus, self.now)
        self.state = outcome.state
        self.log.extend(outcome.decisions)
        # The store writes set attributes to the customer row; the next call sees them.
        for change in of_type(outcome.decisions, AttributesSet):
            self.attributes.update(change.values)
        return outcome

    # --- reading the log ------------------------------------------------------------------

    @property
    def stage(self) -> str | None:
        return self.state.stage if self.state else None

    @property
    def transitions(self) -> list[Transitioned]:
        return of_type(self.log, Transitioned)

    @property
    def path(self) -> list[str]:
        return [t.to_stage for t in self.transitions]

    @property
    def scheduled(self) -> list[ScheduledAction]:
        return of_type(self.log, ScheduledAction)

    @property
    def enrollments(self) -> list[Enrolled]:
        return of_type(self.log, Enrolled)

    @property
    def ends(self) -> list[Ended]:
        return of_type(self.log, Ended)

    @property
    def left(self) -> list[LeftStage]:
        return of_type(self.log, LeftStage)

    def action(self, action_key: str) -> ScheduledAction:
        """The one scheduled action with this key; fails if there is none or several."""
        found = [a for a in self.scheduled if a.action_key == action_key]
        assert len(found) == 1, f"expected one '{action_key}', got {found}"
        return found[0]

    def action_keys(self) -> list[str]:
        return [a.action_key for a in self.scheduled]

    def is_void(self, action: ScheduledAction) -> bool:
        """Has the engine voided this action: did the customer leave before it fell due?"""
        return any(action.idempotency_key in left.void for left in self.left)


DriverFactory = Callable[..., Driver]


def write_file(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path
