"""What a dispatch did: actions claimed, their outcomes per channel, and why."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from journeys.store.outbox.claims import ActionOutcome, ClaimedAction


@dataclass
class DispatchSummary:
    claimed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # sent, failed, unknown, …
    by_channel: Counter[tuple[str, str]] = field(default_factory=Counter)  # (kind, outcome)
    reasons: Counter[str] = field(default_factory=Counter)  # why actions failed or were skipped
    recovered: Counter[str] = field(default_factory=Counter)  # expired leases: pending, unknown…
    stale: int = 0  # outcomes not written: another dispatcher had taken the action over
    batches: int = 0

    def count(self, action: ClaimedAction, outcome: ActionOutcome) -> None:
        self.outcomes[outcome.status] += 1
        self.by_channel[(action.kind, outcome.status)] += 1
        if outcome.status in ("failed", "skipped") and outcome.reason:
            self.reasons[outcome.reason] += 1

    def __iadd__(self, other: DispatchSummary) -> DispatchSummary:
        self.claimed += other.claimed
        self.outcomes += other.outcomes
        self.by_channel += other.by_channel
        self.reasons += other.reasons
        self.recovered += other.recovered
        self.stale += other.stale
        self.batches += other.batches
        return self

    def sent_by_kind(self) -> dict[str, int]:
        return {
            kind: n for (kind, status), n in sorted(self.by_channel.items()) if status == "sent"
        }
