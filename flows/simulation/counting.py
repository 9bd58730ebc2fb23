"""What a simulation sends through: channels that count, and send rules that count.

The counting channels stand where SendGrid, Twilio and the webhook client stand in
production. The dispatcher claims, decides, renders (a template error fails the
action as it would in production) and records as always; the channel only counts
the message instead of sending it. It takes a whole chunk per call (`send_batch`),
so no thread waits per message.

The send rules are the production `SendRules`; the subclass counts what they held
back per day, channel, verb and reason, each action once a day (a message deferred
twice the same day is one deferral), holding only the current day's ids.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from channels.errors import ChannelError
from channels.message import ChannelKind, OutboundMessage, SendResult
from journeys.policy import Decision, Defer, Skip
from journeys.store.outbox.claimed import ClaimedAction

from ..send_rules import SendRules

KINDS: tuple[ChannelKind, ...] = ("email", "sms", "webhook")
# (channel, "deferred" | "skipped", reason)
HeldKey = tuple[str, str, str]


class CountingChannel:
    """A `channels.protocol.Channel` that counts every message instead of sending it."""

    name = "simulation"
    batch_size = 500

    def __init__(self, kind: ChannelKind) -> None:
        self.kind = kind
        self.sent = 0
        self._lock = threading.Lock()

    def send(self, message: OutboundMessage) -> SendResult:
        return self.send_batch([message])[0]  # type: ignore[return-value]

    def send_batch(self, messages: Sequence[OutboundMessage]) -> list[SendResult | ChannelError]:
        with self._lock:
            first = self.sent + 1
            self.sent += len(messages)
        return [
            SendResult("sent", provider_message_id=f"{self.kind}-{n}", channel=self.name)
            for n in range(first, first + len(messages))
        ]

    def close(self) -> None:
        pass


def counting_channels() -> dict[str, CountingChannel]:
    return {kind: CountingChannel(kind) for kind in KINDS}


class CountingRules(SendRules):
    """The production send rules, counting per day what they deferred or skipped."""

    def __init__(self) -> None:
        super().__init__()
        self._today: set[tuple[int, str, str]] = set()
        self.held: Counter[HeldKey] = Counter()

    def __call__(self, action: ClaimedAction, now: datetime) -> Decision:
        decision = super().__call__(action, now)
        if isinstance(decision, Skip | Defer):
            verb = "skipped" if isinstance(decision, Skip) else "deferred"
            key = (action.id, verb, decision.reason)
            if key not in self._today:
                self._today.add(key)
                self.held[(action.kind, verb, decision.reason)] += 1
        return decision

    def close_day(self) -> Counter[HeldKey]:
        """What was held back since the last call; the day's ids are forgotten."""
        held, self.held = self.held, Counter()
        self._today = set()
        return held
