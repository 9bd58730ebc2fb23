"""The production send rules in the demo, counting what they held back and why.

The demo dispatches through `SendRules`, as `serve` and the deployments do: consent
(imported from the sample's consent file), quiet hours in each customer's time zone,
frequency caps across journeys. This wrapper only counts its decisions, per action:
a message deferred twice by quiet hours is one message deferred for quiet hours.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from journeys.policy import Decision, Defer, Skip
from journeys.store.outbox.claimed import ClaimedAction

from .send_rules import SendRules


class CountingRules(SendRules):
    def __init__(self) -> None:
        super().__init__()
        self._held: dict[tuple[str, str], set[int]] = {}

    def __call__(self, action: ClaimedAction, now: datetime) -> Decision:
        decision = super().__call__(action, now)
        if isinstance(decision, Skip | Defer):
            verb = "skipped" if isinstance(decision, Skip) else "deferred"
            self._held.setdefault((verb, decision.reason), set()).add(action.id)
        return decision

    def held(self) -> Counter[tuple[str, str]]:
        """Actions ("skipped" | "deferred", reason): how many, each counted once."""
        return Counter({key: len(ids) for key, ids in self._held.items()})
