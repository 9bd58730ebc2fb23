"""One claimed batch, sent: decide each action, mark, send and record chunk by chunk.

`dispatch.dispatch_due` claims batches; `BatchRun.batch` sends one (see the module
docstring of `flows.dispatch` for the steps and why they are in this order).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeAlias

from sqlalchemy import Connection, Engine

from channels.errors import ChannelError, RetryableSendError
from channels.message import OutboundMessage, SendResult
from channels.protocol import Channel
from channels.ratelimit import SendOutcome, start_many
from channels.render import Renderer
from journeys.errors import StoreError
from journeys.model import Journey
from journeys.policy import ALLOW, Decision, Defer, Skip
from journeys.store import JourneyRegistry
from journeys.store.outbox.claimed import HOLDOUT
from journeys.store.outbox.claims import (
    ActionOutcome,
    AddressConsent,
    ClaimedAction,
    OutcomeStatus,
    mark_preparing,
    mark_send_started,
    renew_lease,
)
from journeys.store.outbox.outcomes import record_outcomes

from .dispatch_summary import DispatchSummary

log = logging.getLogger(__name__)

RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=1)
# A deferral into the past would be claimed again at once, in a loop.
MIN_DEFER = timedelta(minutes=1)
_CONTACT = {"email": ("email", "no email address"), "sms": ("phone", "no phone number")}
SENDABLE = ("email", "sms", "webhook")


# --- the policy hook -----------------------------------------------------------------------


PolicyDecision: TypeAlias = Decision
Policy: TypeAlias = Callable[[ClaimedAction, datetime], PolicyDecision]


def allow_all(action: ClaimedAction, now: datetime) -> PolicyDecision:
    """Everything may be sent: for demos and tests that are not about the send rules.

    The production rules are `journeys.policy.decide_send` (consent, quiet hours in the
    customer's time zone, frequency caps). A policy runs once per action and does no I/O
    per call: one that needs the store (consent, recent sends) loads what it needs for
    the whole batch first. A
    deferral is no attempt, so rules never use up the retries meant for a failing
    provider. The policy runs before the holdout check, so a control group
    holds only customers the message would really have reached.
    """
    return ALLOW


def backoff(attempt: int, retry_after: float | None = None) -> timedelta:
    """1, 2, 4, … minutes up to an hour, or longer if the provider asked for it."""
    delay = min(RETRY_BASE * (1 << max(attempt - 1, 0)), RETRY_CAP)
    return max(delay, timedelta(seconds=retry_after or 0))


class JourneySource:
    """Journeys by (key, version), from a registry or a list, else read from the store."""

    def __init__(self, source: JourneyRegistry | Iterable[Journey]) -> None:
        self.registry = source if isinstance(source, JourneyRegistry) else JourneyRegistry()
        self.given: dict[tuple[str, int], Journey] = {}
        if not isinstance(source, JourneyRegistry):
            self.given = {(j.journey, j.version): j for j in source}

    def load(self, conn: Connection, actions: Iterable[ClaimedAction]) -> None:
        wanted = {(a.journey, a.version) for a in actions} - set(self.given)
        try:
            self.registry.load_versions(conn, wanted)
        except StoreError as exc:  # those found are loaded; the others fail their actions
            log.warning("%s", exc)

    def get(self, key: str, version: int) -> Journey | None:
        if (key, version) in self.given:
            return self.given[(key, version)]
        try:
            return self.registry.get(key, version)
        except StoreError:
            return None


Settled: TypeAlias = tuple[ClaimedAction, ActionOutcome]


@dataclass
class _InFlight:
    going: list[tuple[ClaimedAction, OutboundMessage]]
    waiting: Callable[[], list[SendOutcome]]

    def outcomes(self, run: BatchRun) -> list[Settled]:
        sent = self.waiting()
        return [(a, run.settle(a, r, m)) for (a, m), r in zip(self.going, sent, strict=True)]


@dataclass
class BatchRun:
    engine: Engine
    journeys: JourneySource
    channels: Mapping[str, Channel]
    renderer: Renderer
    now: datetime
    lease: timedelta
    policy: Policy
    max_attempts: int
    concurrency: int
    pool: Executor
    clock: Callable[[], datetime] | None = None
    summary: DispatchSummary = field(default_factory=DispatchSummary)
    refused: set[tuple[str, str]] = field(default_factory=set)  # (channel, address)

    def tick(self) -> datetime:
        """The time now: the wall clock if there is one (never before `now`), else `now`."""
        return max(self.now, self.clock()) if self.clock is not None else self.now

    def batch(self, claimed: list[ClaimedAction]) -> None:
        """Send a claimed batch whose first window is already marked as in hand."""
        # Mark only the messages about to leave, a chunk at a time: after a crash, what
        # becomes `unknown` is what may really have been in flight, not the whole batch.
        # Likewise only the window about to be decided and rendered is marked as in hand:
        # a crash counts against it, never against the rest of the batch. One short
        # transaction per window does all that and records the previous chunk's
        # outcomes. While a chunk is out, the next window is rendered, so rendering
        # overlaps the waiting for providers.
        done: list[tuple[ClaimedAction, ActionOutcome]] = []
        out: _InFlight | None = None
        windows = self.windows(claimed)
        claim = claimed[0].claim if claimed else ""
        for index, (kind, window) in enumerate(windows):
            chunk, settled = self.prepare_window(window)
            done += settled
            if out is not None:
                done += out.outcomes(self)
                out = None
            if self.refused and chunk:
                chunk = self.drop_refused(chunk, done)
            following = windows[index + 1][1] if index + 1 < len(windows) else []
            # A plain connection: an ORM session per chunk costs more than its statements.
            now = self.tick()
            with self.engine.begin() as conn:
                self.record(conn, done, now)
                # The whole batch's lease, from the time this chunk really leaves.
                renew_lease(conn, claim, now, self.lease)
                started = mark_send_started(conn, (a for a, _ in chunk), now, self.lease)
                if following:
                    mark_preparing(conn, claim, [a.id for a in following], now)
            done = []
            if not chunk:
                continue
            self.summary.stale += len(chunk) - len(started)
            going = [(a, m) for a, m in chunk if a.id in started]
            waiting = start_many(self.channels[kind], [m for _, m in going], self.pool)
            out = _InFlight(going, waiting)
        if out is not None:
            done += out.outcomes(self)
        if done:
            with self.engine.begin() as conn:
                self.record(conn, done, self.tick())

    def drop_refused(
        self, chunk: list[tuple[ClaimedAction, OutboundMessage]], done: list[Settled]
    ) -> list[tuple[ClaimedAction, OutboundMessage]]:
        # The send rules read consent once per batch: an address refused since then
        # (STOP, an invalid number) is skipped for the rest of the batch here.
        keep = []
        for action, message in chunk:
            if (message.channel, message.to) in self.refused:
                why = "the provider refused this address earlier in the batch"
                done.append((action, ActionOutcome.of(action, "skipped", reason=why)))
            else:
                keep.append((action, message))
        return keep

    def windows(self, claimed: list[ClaimedAction]) -> list[tuple[str, list[ClaimedAction]]]:
        """The batch in the order it is prepared: per kind, windows of one chunk each."""
        kinds = [*SENDABLE, *sorted({a.kind for a in claimed} - set(SENDABLE))]
        windows = []
        for kind in kinds:
            size = self.chunk_size(kind)
            of_kind = [a for a in claimed if a.kind == kind]
            windows += [(kind, of_kind[i : i + size]) for i in range(0, len(of_kind), size)]
        return windows

    def prepare_window(
        self, window: list[ClaimedAction]
    ) -> tuple[list[tuple[ClaimedAction, OutboundMessage]], list[Settled]]:
        """The window's messages to send, and the outcomes of those that need no send."""
        chunk: list[tuple[ClaimedAction, OutboundMessage]] = []
        settled: list[Settled] = []
        for action in window:
            prepared = self.prepare(action)
            if isinstance(prepared, OutboundMessage):
                chunk.append((action, prepared))
            else:
                settled.append((action, prepared))
        return chunk, settled

    def chunk_size(self, kind: str) -> int:
        # A channel that writes a chunk in one call (and makes it durable together) is
        # given chunks of its own size: per-request concurrency means nothing to it.
        channel = self.channels.get(kind)
        size = getattr(channel, "batch_size", None) if hasattr(channel, "send_batch") else None
        return size if isinstance(size, int) and size > 0 else self.concurrency

    def record(
        self, conn: Connection, items: list[tuple[ClaimedAction, ActionOutcome]], now: datetime
    ) -> None:
        written = record_outcomes(conn, (o for _, o in items), now)
        stale = set(written.stale)
        self.summary.stale += len(stale)
        for action, outcome in items:
            if action.id not in stale:
                self.summary.count(action, outcome)

    def prepare(self, action: ClaimedAction) -> OutboundMessage | ActionOutcome:
        """The message to send, or the outcome that makes sending unnecessary."""

        def outcome(status: OutcomeStatus, reason: str, **details: Any) -> ActionOutcome:
            return ActionOutcome.of(action, status, reason=reason, **details)

        if action.kind not in SENDABLE:
            return outcome("skipped", f"'{action.kind}' actions send no message")
        journey = self.journeys.get(action.journey, action.version)
        if journey is None:
            return outcome("failed", f"journey {action.journey} v{action.version} is not stored")
        try:
            decision = self.policy(action, self.now)
        except Exception as exc:
            log.exception("policy failed for action %s", action.id)
            return self.retry(action, f"policy error: {type(exc).__name__}: {exc}", None)
        if isinstance(decision, Skip):
            return outcome("skipped", decision.reason)
        if isinstance(decision, Defer):
            due = max(decision.until, self.now + MIN_DEFER)
            return outcome("deferred", decision.reason, due_at=due)
        if action.kind in _CONTACT and action.template is None:
            return outcome("skipped", HOLDOUT)
        if action.kind not in self.channels:
            return outcome("failed", f"no channel configured for {action.kind}")
        contact = _CONTACT.get(action.kind)
        if contact is not None and not getattr(action.customer, contact[0]):
            return outcome("failed", contact[1])
        try:
            rendered = self.renderer.render(action, journey, action.promo, self.now)
        except Exception as exc:
            log.exception("rendering action %s failed", action.id)
            return outcome("failed", f"render error: {type(exc).__name__}: {exc}")
        if isinstance(rendered, SendResult):
            return outcome("failed", rendered.reason or rendered.error_code or "not rendered")
        return rendered

    def settle(
        self, action: ClaimedAction, result: SendOutcome, message: OutboundMessage
    ) -> ActionOutcome:
        if isinstance(result, RetryableSendError):
            return self.retry(action, str(result), result.retry_after)
        if isinstance(result, ChannelError):
            return ActionOutcome.of(action, "failed", reason=str(result))
        if result.status == "sent":
            return ActionOutcome.of(action, "sent", provider_message_id=result.provider_message_id)
        reason = result.reason or result.error_code
        consent = None
        if result.consent_change is not None:
            # The address must not be used again (STOP, an invalid number): recorded with
            # the outcome, so the next marketing message is held back by the send rules.
            channel, status = result.consent_change
            detail = result.error_code or f"HTTP {result.http_status}"
            source = f"{result.channel or action.kind} refusal {detail}"
            consent = AddressConsent(channel, message.to, status, source[:64])
            self.refused.add((message.channel, message.to))
        return ActionOutcome.of(action, result.status, reason=reason, consent=consent)

    def retry(self, action: ClaimedAction, reason: str, retry_after: float | None) -> ActionOutcome:
        # This attempt is the send that was refused (counted when it was marked), or a
        # rule that raised before any send (counted when the retry is recorded).
        attempt = action.attempts + 1
        if attempt >= self.max_attempts:
            gave_up = f"gave up after {attempt} attempts: {reason}"
            return ActionOutcome.of(action, "failed", reason=gave_up)
        due = self.tick() + backoff(attempt, retry_after)
        return ActionOutcome.of(action, "retry", reason=reason, due_at=due)
