"""A population living through an A/B-tested journey, through the real engine and store.

Customers sign up; the welcome email, due an hour later, goes to one of two variants
or the holdout (the engine decides). Some leave before it is due (the action is voided),
some have no consent (the send rules skip it in every variant), some sends fail. The
outcomes are recorded as the dispatcher records them. Then conversions happen at
planned moments: the journey's goal (an order), clicks on the message, promo code
redemptions and reviews, some inside the window after the send and some just outside.

`Population` keeps the plan, so a test computes the expected figures from it in plain
Python, independently of the SQL under test.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, select

from journeys.model import Journey
from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope
from journeys.store.feedback.message_events import MessageReport, record_message_events
from journeys.store.outbox.claimed import HOLDOUT
from journeys.store.outbox.claims import ActionOutcome, claim_due
from journeys.store.outbox.outcomes import record_outcomes
from journeys.store.tables import action_run_t, customer_t, promo_code_t

START = datetime.fromisoformat("2026-03-02T09:00:00+00:00")
DUE_AFTER = timedelta(hours=1)
WITHIN = timedelta(days=7)
METRICS = ("goal", "click", "redemption", "review")


def ab_journey(**ab_test: Any) -> Journey:
    """Welcome email after an hour: variants plain and bonus (2:2) and a holdout (1)."""
    return Journey.model_validate(
        {
            "journey": "welcome_ab",
            "version": 1,
            "name": "Welcome A/B",
            "goal": {"event": "order.completed"},
            "stages": [
                {
                    "key": "signup",
                    "enter_when": {"event": "signup.done"},
                    "on_enter": [
                        {
                            "after": "1h",
                            "email": "welcome",
                            "promo_code": {"discount": "10%", "valid_for": "60d"},
                            "variants": [
                                {"key": "plain", "weight": 2, "template": "welcome_plain"},
                                {"key": "bonus", "weight": 2, "template": "welcome_bonus"},
                                {"key": "holdout", "weight": 1},
                            ],
                            "ab_test": {"within": "7d", **ab_test},
                        }
                    ],
                },
                {"key": "gone", "enter_when": {"event": "signup.cancelled"}, "final": True},
            ],
        }
    )


@dataclass
class Person:
    id: str
    signup: datetime
    fate: str  # recipient, cancelled (left before the send), no_consent, failed
    # metric -> when it converts (None: never)
    converts: dict[str, datetime | None] = field(default_factory=dict)
    variant: str | None = None  # what the engine assigned (read back from the store)

    @property
    def due(self) -> datetime:
        return self.signup + DUE_AFTER

    @property
    def reached(self) -> bool:
        """Counted as a recipient: dispatched past the send rules (a failed send too)."""
        return self.fate in ("recipient", "failed")


@dataclass
class Population:
    people: list[Person]

    def expected(
        self,
        metric: str,
        within: timedelta = WITHIN,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> dict[str, tuple[int, int]]:
        """Per variant: (recipients, converted within the window), from the plan."""
        out: dict[str, list[int]] = {}
        for p in self.people:
            if not p.reached or p.variant is None:
                continue
            if (since and p.due < since) or (until and p.due >= until):
                continue
            at = p.converts.get(metric)
            hit = at is not None and p.due <= at <= p.due + within
            counts = out.setdefault(p.variant, [0, 0])
            counts[0] += 1
            counts[1] += hit
        return {k: (n, c) for k, (n, c) in out.items()}


Offsets = Callable[[random.Random, Person, str], datetime | None]


def around_the_window(rng: random.Random, person: Person, metric: str) -> datetime | None:
    """A moment around the window [due, due + 7d], its edges included, or none."""
    due = person.due
    choices = [
        None,
        None,
        due + timedelta(hours=5),
        due + timedelta(days=2, minutes=17),
        due + WITHIN,  # the last moment inside
        due + WITHIN + timedelta(microseconds=1),  # the first outside
        due + timedelta(days=12),
    ]
    if metric == "review":  # reviews change no stage: one may come before the send
        choices.append(due - timedelta(minutes=1))
    return rng.choice(choices)


def build(
    engine: Engine,
    journey: Journey,
    n: int,
    *,
    seed: int = 7,
    fates: Mapping[str, float] | None = None,
    plan: Offsets = around_the_window,
) -> Population:
    rng = random.Random(seed)
    weights = fates or {"recipient": 0.7, "cancelled": 0.1, "no_consent": 0.1, "failed": 0.1}
    people = []
    for i in range(n):
        # SQLite's datetime() rounds these up to the next second: the window's edges must
        # be exact to the microsecond all the same.
        signup = START + timedelta(minutes=13 * i, microseconds=999_700 + i % 300)
        fate = rng.choices(list(weights), list(weights.values()))[0]
        people.append(Person(f"ab-{i:04d}", signup, fate))
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [journey])
    _enter(engine, registry, people)
    _dispatch(engine, people)
    # Planned once the engine has assigned the variants, so a plan may favour one.
    for person in people:
        person.converts = {m: plan(rng, person, m) for m in METRICS}
    _convert(engine, registry, people)
    return Population(people)


def _event(type_: str, person: Person, at: datetime, n: int, **data: Any) -> IncomingEvent:
    return IncomingEvent(
        source="shop",
        external_id=f"{type_}-{person.id}-{n}",
        type=type_,
        customer_id=person.id,
        occurred_at=at,
        data=data,
        customer={"email": f"{person.id}@example.com"},
    )


def _apply(engine: Engine, registry: JourneyRegistry, events: Iterable[IncomingEvent]) -> None:
    events = sorted(events, key=lambda e: e.occurred_at)
    if events:
        with session_scope(engine) as session:
            apply_events(session, registry, events, events[-1].occurred_at)


def _enter(engine: Engine, registry: JourneyRegistry, people: list[Person]) -> None:
    events = [_event("signup.done", p, p.signup, 0) for p in people]
    events += [
        _event("signup.cancelled", p, p.signup + timedelta(minutes=30), 0)
        for p in people
        if p.fate == "cancelled"
    ]
    _apply(engine, registry, events)


def _dispatch(engine: Engine, people: list[Person]) -> None:
    """Outcomes as the dispatcher decides them: the send rules first, then the holdout."""
    fate = {p.id: p.fate for p in people}
    now = max(p.due for p in people) + timedelta(minutes=1)
    with session_scope(engine) as session:
        claimed = claim_due(session, now, 100_000, timedelta(minutes=5), "ab-test")
        outcomes = []
        for action in claimed:
            why = fate[action.customer.external_id]
            if why == "no_consent":
                outcomes.append(ActionOutcome.of(action, "skipped", reason="no consent"))
            elif action.template is None:
                outcomes.append(ActionOutcome.of(action, "skipped", reason=HOLDOUT))
            elif why == "failed":
                outcomes.append(ActionOutcome.of(action, "failed", reason="no email address"))
            else:
                sent = ActionOutcome.of(action, "sent", provider_message_id=str(action.id))
                outcomes.append(sent)
        record_outcomes(session, outcomes, now)
        a, c = action_run_t.c, customer_t.c
        rows = session.connection().execute(
            select(c.external_id, a.variant).join_from(
                action_run_t, customer_t, c.id == a.customer_id
            )
        )
        by_id = {p.id: p for p in people}
        for external_id, variant in rows:
            by_id[external_id].variant = variant


def _convert(engine: Engine, registry: JourneyRegistry, people: list[Person]) -> None:
    with session_scope(engine) as session:
        conn = session.connection()
        a, c, pc = action_run_t.c, customer_t.c, promo_code_t.c
        keys = dict(
            conn.execute(
                select(c.external_id, a.idempotency_key).join_from(
                    action_run_t, customer_t, c.id == a.customer_id
                )
            ).all()
        )
        codes = dict(
            conn.execute(
                select(c.external_id, pc.code).join_from(
                    promo_code_t, customer_t, c.id == pc.customer_id
                )
            ).all()
        )
    events, clicks = [], []
    for p in people:
        at = p.converts
        if at["goal"] is not None:
            events.append(_event("order.completed", p, at["goal"], 1))
        if at["review"] is not None:
            events.append(_event("review.submitted", p, at["review"], 1, rating=5))
        if at["redemption"] is not None:
            events.append(_event("coupon.used", p, at["redemption"], 1, promo_code=codes[p.id]))
        if at["click"] is not None:
            # Only a message that left can be clicked: a holdout or a skipped one cannot.
            if p.fate == "recipient" and p.variant != "holdout":
                clicks.append(MessageReport("sendgrid", "click", at["click"], keys[p.id]))
            else:
                at["click"] = None
    _apply(engine, registry, events)
    with session_scope(engine) as session:
        record_message_events(session, clicks, max(p.due for p in people))
