"""What the demo's customers do with their messages, so that every figure of its report
has something to count.

The sample stream holds what a shop and a CRM send; what comes back after a message
cannot be in it, because the messages and their codes are made while the demo runs.
So the demo plays the providers and the customers, through the functions production
uses for the same records:

- the provider reports every email and SMS as delivered; customers open some emails
  and click some of those (`record_message_events`, as for SendGrid's event webhook);
- customers answer some survey links (`record_survey_answer`, as the survey page does);
- a customer who orders while holding a promo code that a message showed them uses it
  at that order: the code goes into the order's data as `promo_code`, where the shop
  puts it, and the store redeems it as it redeems any.

Nothing here changes what the journeys do: no consent, no suppression, no event the
journeys react to. Every choice is a fixed function of the message's idempotency key
(a hash, not a random generator), so the same demo gives the same figures each time.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from journeys.store import IncomingEvent, session_scope
from journeys.store.feedback.message_events import MessageReport, record_message_events
from journeys.store.feedback.surveys import record_survey_answer
from journeys.store.tables import action_run_t, customer_t, promo_code_t

PROVIDER = "demo"  # who reported: the demo, in the provider's place
# Share of delivered emails opened, and of opened ones clicked, by template.
OPENED = {"default": 0.45, "thank_you": 0.7, "review_request": 0.55}
CLICKED = {"default": 0.25, "referral_request": 0.2, "referral_reward": 0.4}
SURVEYS = {"csat_survey": "csat", "nps_survey": "nps"}
ANSWERED = 0.6
# Answers drawn from these, one value per message (more satisfied than not).
SCORES = {"csat": (1, 2, 3, 4, 4, 5, 5, 5, 5, 3), "nps": (2, 5, 6, 7, 8, 8, 9, 9, 10, 10)}


@dataclass(frozen=True)
class Reactions:
    """How customers answer their messages; the shares are by template, "default" for
    the others. The demo's are these; a simulation's come from its behaviour model
    (`messages:`), with its seed as `salt` so that another seed draws otherwise."""

    delivered: float = 1.0  # of emails and SMS sent: the rest are never reported
    opened: Mapping[str, float] = field(default_factory=lambda: dict(OPENED))
    clicked: Mapping[str, float] = field(default_factory=lambda: dict(CLICKED))
    surveys: Mapping[str, str] = field(default_factory=lambda: dict(SURVEYS))
    answered: Mapping[str, float] = field(default_factory=lambda: {"default": ANSWERED})
    scores: Mapping[str, Sequence[int]] = field(default_factory=lambda: dict(SCORES))
    salt: str = ""

    def share(self, shares: Mapping[str, float], template: str) -> float:
        return shares.get(template, shares.get("default", 0.0))


def chance(key: str, purpose: str) -> float:
    """A number in [0, 1) fixed by the message and what it decides."""
    digest = hashlib.blake2b(f"{purpose}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass
class Audience:
    """The demo's customers, reacting to what the demo sent them."""

    engine: Engine
    reactions: Reactions = field(default_factory=Reactions)
    seen_until: datetime | None = None  # messages sent before this were reacted to
    counts: Counter[str] = field(default_factory=Counter)

    def before_day(self, events: Sequence[IncomingEvent]) -> list[IncomingEvent]:
        """The day's events, each order carrying the code its customer holds, if any."""
        orders = [e for e in events if e.type == "order.completed" and "promo_code" not in e.data]
        if not orders:
            return list(events)
        held = self._codes({e.customer_id for e in orders})
        order_ids = {id(e) for e in orders}
        used: set[str] = set()
        out = []
        for event in events:
            code = None
            if id(event) in order_ids:
                valid = [
                    (expires, code)
                    for shown, expires, code in held.get(event.customer_id, [])
                    if shown < event.occurred_at < expires and code not in used
                ]
                code = min(valid)[1] if valid else None
            if code is None:
                out.append(event)
                continue
            used.add(code)
            self.counts["codes used"] += 1
            out.append(event.model_copy(update={"data": {**event.data, "promo_code": code}}))
        return out

    def _codes(self, customers: set[str]) -> dict[str, list[tuple[datetime, datetime, str]]]:
        """Unredeemed codes of these customers: (when a message showed it, expiry, code)."""
        p, a, c = promo_code_t.c, action_run_t.c, customer_t.c
        shown = func.coalesce(a.send_started_at, a.updated_at)
        query = (
            select(c.external_id, shown, p.expires_at, p.code)
            .select_from(
                promo_code_t.join(customer_t, c.id == p.customer_id).join(
                    action_run_t, a.idempotency_key == p.action_idempotency_key
                )
            )
            .where(c.external_id.in_(sorted(customers)), p.redeemed_at.is_(None))
            .where(a.status == "sent")
        )
        held: dict[str, list[tuple[datetime, datetime, str]]] = {}
        with session_scope(self.engine, readonly=True) as session:
            for who, at, expires, code in session.connection().execute(query):
                held.setdefault(who, []).append((at, expires, code))
        return held

    def after_dispatch(self, now: datetime) -> None:
        """React to every email and SMS sent since the last call, up to `now`."""
        a = action_run_t.c
        sent_at = func.coalesce(a.send_started_at, a.updated_at)
        query = select(a.idempotency_key, a.kind, a.template, sent_at).where(
            a.status == "sent", a.kind.in_(("email", "sms")), sent_at <= now
        )
        if self.seen_until is not None:
            query = query.where(sent_at > self.seen_until)
        with session_scope(self.engine) as session:
            sent = session.connection().execute(query.order_by(a.id)).all()
            reports: list[MessageReport] = []
            react = self.reactions
            for key, kind, template, at in sent:
                reports += self._reports(key, kind, template or "", at)
                survey = react.surveys.get(template or "")
                if survey and self._chance(key, "answer") < react.share(
                    react.answered, template or ""
                ):
                    scores = react.scores[survey]
                    score = scores[int(self._chance(key, "score") * len(scores))]
                    when = at + timedelta(hours=2 + 46 * self._chance(key, "answered at"))
                    if record_survey_answer(session, key, survey, score, when) is not None:
                        self.counts[f"{survey} answers"] += 1
            if reports:
                record_message_events(session, reports, now)
        self.seen_until = now
        self.counts.update(r.event for r in reports)

    def _chance(self, key: str, purpose: str) -> float:
        return chance(key, self.reactions.salt + purpose)

    def _reports(self, key: str, kind: str, template: str, at: datetime) -> list[MessageReport]:
        react = self.reactions
        if react.delivered < 1 and self._chance(key, "delivered") >= react.delivered:
            return []  # the provider never reports it
        delivered = at + timedelta(minutes=1 + 4 * self._chance(key, "delivered at"))
        out = [MessageReport(PROVIDER, "delivered", delivered, idempotency_key=key)]
        if kind != "email" or self._chance(key, "open") >= react.share(react.opened, template):
            return out
        opened = delivered + timedelta(hours=30 * self._chance(key, "opened at"))
        out.append(MessageReport(PROVIDER, "open", opened, idempotency_key=key))
        if self._chance(key, "click") < react.share(react.clicked, template):
            clicked = opened + timedelta(minutes=1 + 10 * self._chance(key, "clicked at"))
            out.append(MessageReport(PROVIDER, "click", clicked, idempotency_key=key))
        return out
