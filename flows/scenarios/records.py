"""What a scenario run produced, read back from its store and its recording channels."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from journeys.decisions import Decision, Transitioned
from journeys.model import Journey, _MessageAction
from journeys.store.tables import action_run_t, enrollment_t, promo_code_t

from .model import Scenario, parse_moment
from .recording import Held, RecordingChannel
from .timeline import Timeline

MESSAGE_KINDS = ("email", "sms", "webhook")


@dataclass(frozen=True)
class Message:
    """One message action of the journey, as scheduled for the customer."""

    channel: str
    name: str  # the template it renders (a variant's own), or a webhook's endpoint
    declared: str | None  # the action's template, whatever the variant
    variant: str | None
    stage: str
    action: str
    due_at: datetime

    def called(self, name: str) -> bool:
        return name in (self.name, self.declared)


@dataclass(frozen=True)
class Sent:
    message: Message
    at: datetime
    promo_code: str | None
    to: str
    subject: str | None
    text: str | None
    html: str | None

    def contains(self, text: str) -> bool:
        return any(text in part for part in (self.subject, self.text, self.html) if part)


@dataclass(frozen=True)
class NotSent:
    """A message that was due and did not go out: skipped, failed, or still waiting."""

    message: Message
    status: str
    reason: str


@dataclass(frozen=True)
class Deferral:
    message: Message
    at: datetime
    by: str  # quiet hours | frequency cap
    until: datetime


@dataclass(frozen=True)
class IssuedCode:
    code: str
    campaign: str | None
    discount: str
    expires_at: datetime


@dataclass
class ScenarioRun:
    """Everything a scenario did, for its expectations (and a Python test's asserts)."""

    scenario: Scenario
    journey: Journey
    timeline: Timeline
    end: datetime
    sent: list[Sent] = field(default_factory=list)
    not_sent: list[NotSent] = field(default_factory=list)
    deferred: list[Deferral] = field(default_factory=list)
    promo_codes: list[IssuedCode] = field(default_factory=list)
    # (moment, stage, status) after each moment at which anything could happen.
    path: list[tuple[datetime, str | None, str | None]] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def _at(self, moment: Any) -> tuple[str | None, str | None]:
        instant = self.timeline.at(parse_moment(moment))
        where: tuple[str | None, str | None] = (None, None)
        for at, stage, status in self.path:
            if at > instant:
                break
            where = (stage, status)
        return where

    def stage_at(self, moment: timedelta | datetime | str) -> str | None:
        """The stage at a scenario time ('4d', a datetime); None: not in the journey."""
        return self._at(moment)[0]

    def status_at(self, moment: timedelta | datetime | str) -> str | None:
        """active, completed, exited or goal; None: not in the journey."""
        return self._at(moment)[1]

    @property
    def stages(self) -> list[str]:
        """Every stage the customer entered, in order (re-entries repeated)."""
        return [d.to_stage for d in self.decisions if isinstance(d, Transitioned)]

    def since_start(self, instant: datetime) -> str:
        return self.timeline.since_start(instant)


def current_stage(
    conn: Connection, customer_id: int, journey: str
) -> tuple[str | None, str | None]:
    """The stage and status of the customer's latest enrollment in the journey."""
    e = enrollment_t
    row = conn.execute(
        select(e.c.stage, e.c.status)
        .where(e.c.customer_id == customer_id, e.c.journey == journey)
        .order_by(e.c.number.desc())
        .limit(1)
    ).first()
    return (None, None) if row is None else (row.stage, row.status)


def collect(
    run: ScenarioRun,
    conn: Connection,
    customer_id: int,
    channels: Mapping[str, RecordingChannel],
    held: list[Held],
) -> None:
    """Fill `run` from the store (actions, codes) and what the channels recorded."""
    declared = {
        (stage.key, action.action_key): action.template
        for stage in run.journey.stages
        for action in stage.on_enter
        if isinstance(action, _MessageAction)
    }
    a = action_run_t
    rows = conn.execute(
        select(
            a.c.idempotency_key,
            a.c.stage,
            a.c.action_key,
            a.c.kind,
            a.c.template,
            a.c.variant,
            a.c.params,
            a.c.status,
            a.c.due_at,
            a.c.last_error,
        )
        .where(a.c.customer_id == customer_id, a.c.kind.in_(MESSAGE_KINDS))
        .order_by(a.c.due_at, a.c.id)
    ).all()
    messages: dict[str, tuple[Message, Any]] = {}
    for row in rows:
        own = declared.get((row.stage, row.action_key))
        if row.kind == "webhook":
            name = str((row.params or {}).get("webhook", row.action_key))
        else:
            name = row.template or own or row.action_key
        message = Message(row.kind, name, own, row.variant, row.stage, row.action_key, row.due_at)
        messages[row.idempotency_key] = (message, row)
    codes = conn.execute(
        select(
            promo_code_t.c.code,
            promo_code_t.c.campaign,
            promo_code_t.c.discount,
            promo_code_t.c.expires_at,
            promo_code_t.c.action_idempotency_key,
        )
        .where(promo_code_t.c.customer_id == customer_id)
        .order_by(promo_code_t.c.id)
    ).all()
    by_action = {c.action_idempotency_key: c.code for c in codes}
    run.promo_codes = [IssuedCode(c.code, c.campaign, c.discount, c.expires_at) for c in codes]
    recorded = sorted(
        (at, MESSAGE_KINDS.index(kind), n, message)
        for kind, channel in channels.items()
        for n, (at, message) in enumerate(channel.sent)
    )
    for at, _, _, out in recorded:
        found = messages.get(out.idempotency_key)
        if found is None:
            continue  # not this customer's (a scenario has one)
        code = by_action.get(out.idempotency_key)
        run.sent.append(Sent(found[0], at, code, out.to, out.subject, out.text, out.html))
    for message, row in messages.values():
        if row.status == "sent":
            continue
        reason = row.last_error or ""
        if row.status == "pending":
            due = run.since_start(row.due_at)
            reason = f"still waiting when the scenario ended (due at {due})"
        run.not_sent.append(NotSent(message, row.status, reason))
    for hold in held:
        found = messages.get(hold.idempotency_key)
        if found is not None and hold.verb == "deferred" and hold.until is not None:
            run.deferred.append(Deferral(found[0], hold.at, hold.reason, hold.until))
