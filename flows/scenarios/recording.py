"""What a scenario sends through: channels that record, and the send rules, recorded.

The recording channels stand where SendGrid, Twilio and the webhook client stand in
production: the dispatcher renders, decides and records exactly as it would, and
the message that would have left is kept with the time it left. The send rules are
the production `SendRules`; this subclass only notes what they decided.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from channels.message import ChannelKind, OutboundMessage, SendResult
from journeys.policy import Decision, Defer, Skip
from journeys.store.outbox.claimed import ClaimedAction

from ..send_rules import SendRules


class RecordingChannel:
    """A `channels.protocol.Channel` that keeps every message instead of sending it."""

    name = "recording"

    def __init__(self, kind: ChannelKind, clock: Callable[[], datetime]) -> None:
        self.kind = kind
        self.clock = clock
        self.sent: list[tuple[datetime, OutboundMessage]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)

    def send(self, message: OutboundMessage) -> SendResult:
        with self._lock:
            self.sent.append((self.clock(), message))
            number = next(self._ids)
        return SendResult("sent", provider_message_id=f"{self.kind}-{number}", channel=self.name)

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class Held:
    """The send rules held a message back: deferred until a time, or skipped."""

    idempotency_key: str
    at: datetime
    verb: str  # deferred | skipped
    reason: str
    until: datetime | None = None


class RecordingRules(SendRules):
    """The production send rules, noting every deferral and skip."""

    def __init__(self) -> None:
        super().__init__()
        self.held: list[Held] = []

    def __call__(self, action: ClaimedAction, now: datetime) -> Decision:
        decision = super().__call__(action, now)
        if isinstance(decision, Defer):
            key = action.idempotency_key
            self.held.append(Held(key, now, "deferred", decision.reason, decision.until))
        elif isinstance(decision, Skip):
            self.held.append(Held(action.idempotency_key, now, "skipped", decision.reason))
        return decision
