"""Factories for the report tests: a shop whose history is made by the real engine and
store (events through `apply_events`, timers through `advance_timers`, messages claimed,
marked and settled through the outbox), plus provider reports and survey answers.

`Shop.dispatch` plays a dispatcher whose channel outcome the test decides per message,
so a test knows what became of each message without a provider.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from journeys.loader import parse_journey
from journeys.model import Journey
from journeys.store import IncomingEvent, JourneyRegistry, session_scope
from journeys.store.feedback.message_events import MessageReport, record_message_events
from journeys.store.feedback.surveys import record_survey_answer
from journeys.store.outbox.claimed import ActionOutcome, ClaimedAction
from journeys.store.outbox.claims import claim_due, mark_send_started
from journeys.store.outbox.outcomes import record_outcomes
from journeys.store.state.ingest import advance_timers, apply_events
from journeys.store.tables import action_run_t, customer_t, promo_code_t

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
LEASE = timedelta(minutes=5)

SHOP_YAML = """\
journey: shop
version: 1
name: Shop
goal: {event: subscription.started}
exit: [{event: account.closed}]
reentry: {policy: always}
stages:
  - key: browsing
    enter_when: {event: product.viewed}
    on_enter: [{email: buying_guide}]
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
        promo_code: {discount: "10%", valid_for: 30d, campaign: review_thanks}
      - after: 1d
        sms: csat_survey
  - key: loyal
    enter_when: {event: review.submitted, where: "rating >= 4", from: [evaluation]}
    final: true
"""


@functools.cache
def _shop_journey() -> Journey:
    # Parsed once: the property tests build hundreds of shops.
    return parse_journey(SHOP_YAML, "shop.yaml")[0]


def shop_journey(**changes: Any) -> Journey:
    journey = _shop_journey()
    return journey.model_copy(update=changes) if changes else journey


# What a dispatch does with one claimed message: (status, reason) or a deferral.
Decide = Callable[[ClaimedAction], tuple[str, str | None]]


def send_everything(action: ClaimedAction) -> tuple[str, str | None]:
    return "sent", None


class Shop:
    """A store with journeys registered, filled the way production fills it."""

    def __init__(self, engine: Engine, journeys: list[Journey] | None = None) -> None:
        self.engine = engine
        self.registry = JourneyRegistry()
        self._ids = itertools.count(1)
        with session_scope(engine) as session:
            self.registry.register(session, journeys or [shop_journey()])

    def event(
        self,
        type: str,
        customer: str,
        at: datetime,
        profile: dict[str, Any] | None = None,
        **data: Any,
    ) -> IncomingEvent:
        """Apply one event at its own time (timers due before it fire first)."""
        event = IncomingEvent(
            source="shop",
            external_id=f"ev-{next(self._ids)}",
            type=type,
            customer_id=customer,
            occurred_at=at,
            data=data,
            customer=profile,
        )
        self.timers(at)
        with session_scope(self.engine) as session:
            apply_events(session, self.registry, [event], at)
        return event

    def timers(self, now: datetime) -> None:
        while True:
            with session_scope(self.engine) as session:
                if advance_timers(session, self.registry, now, limit=500).timers < 500:
                    return

    def dispatch(self, now: datetime, decide: Decide = send_everything) -> dict[str, int]:
        """Everything due by `now`, decided by `decide`; returns {idempotency key: id}."""
        self.timers(now)
        with session_scope(self.engine) as session:
            claimed = claim_due(session, now, 10_000, LEASE, "test")
            chosen = {a.id: decide(a) for a in claimed}
            mark_send_started(
                session, [a for a in claimed if chosen[a.id][0] in ("sent", "unknown")], now, LEASE
            )
            outcomes = []
            for a in claimed:
                status, reason = chosen[a.id]
                due = now + DAY if status == "deferred" else None
                pid = f"pm-{a.id}" if status == "sent" else None
                outcomes.append(ActionOutcome(a.id, a.claim, status, reason, pid, due))  # type: ignore[arg-type]
            record_outcomes(session, outcomes, now)
        return {a.idempotency_key: a.id for a in claimed}

    def provider_report(self, key: str, event: str, at: datetime) -> None:
        with session_scope(self.engine) as session:
            record_message_events(
                session, [MessageReport("sendgrid", event, at, idempotency_key=key)], at
            )

    def survey(self, key: str, kind: str, score: int, at: datetime) -> None:
        with session_scope(self.engine) as session:
            assert record_survey_answer(session, key, kind, score, at) is not None

    def codes(self) -> dict[str, str]:
        """The promo code each customer was issued, by the customer's id."""
        p, c = promo_code_t, customer_t
        query = select(c.c.external_id, p.c.code).join(c, c.c.id == p.c.customer_id)
        with self.engine.connect() as conn:
            return {who: code for who, code in conn.execute(query)}

    def keys(self, action_key: str) -> dict[str, str]:
        """The idempotency keys of one action, by the customer's id."""
        a, c = action_run_t, customer_t
        query = (
            select(c.c.external_id, a.c.idempotency_key)
            .join(c, c.c.id == a.c.customer_id)
            .where(a.c.action_key == action_key)
        )
        with self.engine.connect() as conn:
            return {who: key for who, key in conn.execute(query)}
