"""The data a stage's rules read: the event that entered the stage, per customer.

A rule on a stage (`after_stage`) may read its cause's data (`matching`, `keep`,
`of`) as a template in that stage does: the event that entered the stage, or for a
stage entered by a wait (`after`, `no_event_for`) the event that entered the stage
waited in (the contract of `journeys.validate_tracking.contexts`). A stage entered
otherwise (a date, a schedule, a segment, a move) carries none.

Only the journeys whose stage rules read data are followed, only the fields they read
are held, and only while the customer's enrollment lasts: memory grows with the
customers in flight in those journeys, not with the run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from journeys.decisions import Ended, Transitioned
from journeys.store import IncomingEvent

from .model import Rule

# A transition caused by a wait carries on the event of the stage waited in.
_WAITS = ("timer:after:", "timer:no_event_for:")
_EVENT = "event:"


def fields_read(rules: Iterable[Rule]) -> dict[str, frozenset[str]]:
    """Per journey, the data fields its stages' rules read from their cause."""
    found: dict[str, set[str]] = {}
    for rule in rules:
        if rule.after_stage is None:
            continue
        names = set(rule.matching)
        for outcome in rule.outcomes:
            names.update(outcome.keep)
            if outcome.of is not None:
                names.add(outcome.of)
        if names:
            found.setdefault(rule.after_stage.partition(".")[0], set()).update(names)
    return {journey: frozenset(names) for journey, names in found.items()}


class Carried:
    """What each customer's current stage carries, for the journeys whose rules read it."""

    def __init__(self, fields: Mapping[str, frozenset[str]]) -> None:
        self._fields = dict(fields)
        self._applying: dict[str, Mapping[str, Any]] = {}
        self._held: dict[tuple[int, str], dict[str, Any]] = {}

    def applying(self, events: Sequence[IncomingEvent]) -> None:
        """The events about to be applied: a transition's cause names one of them."""
        if self._fields:
            self._applying = {event.event_id: event.data for event in events}

    def entered(self, index: int, decision: Transitioned) -> dict[str, Any]:
        """The data customer `index` entered `decision`'s stage with (empty: none)."""
        names = self._fields.get(decision.journey)
        if names is None:
            return {}
        key = (index, decision.journey)
        cause = decision.cause
        if cause.startswith(_EVENT):
            data = self._applying.get(cause[len(_EVENT) :], {})
            self._held[key] = {name: data[name] for name in names if name in data}
        elif not cause.startswith(_WAITS):
            self._held.pop(key, None)
        return self._held.get(key, {})

    def ended(self, index: int, decision: Ended) -> None:
        self._held.pop((index, decision.journey), None)

    @property
    def held(self) -> int:
        """Customers' stages whose data is held."""
        return len(self._held)
