"""The simulated population, generated lazily on the virtual clock.

Customers appear spread over the simulated days, each with a persona drawn by the
model's shares. What a customer does next is scheduled when its cause happens: when
one of their events occurs, or when the engine moves them into a stage (the runner
passes the engine's decisions to `observe`). Only what is scheduled and has not yet
happened is held (a few events per active customer), never the whole run's events.

Deterministic for a seed: every draw of customer i comes from a random stream seeded
by (seed, i, how many causes of theirs came before), so a customer's life depends on
the seed, the model and the clock's tick, never on the batches or the order in which
customers are handled. That is what lets a population be split (`shard`): shard k of
n holds the customers i with i % n == k, and each lives there the life it lives in
the whole population.
"""

from __future__ import annotations

import heapq
import itertools
import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from journeys.decisions import Decision, Ended, Transitioned
from journeys.store import IncomingEvent
from journeys.store.people.importing import ConsentRow

from .carried import Carried, fields_read
from .model import BehaviourModel, Emits, Outcome, Persona, Profile, Rule
from .people import Drawing, Newcomer, consent_change, draw_data, newcomer, read_moment

PREFIX = "sim-"
# A scheduled event: (when, tie-breaker, customer, its number, what, data, the cause's data)
_Pending = tuple[int, int, int, int, Emits, str, dict[str, Any]]


@dataclass
class _Compiled:
    """A persona made ready for drawing: weights summed once, rules found by cause."""

    persona: Persona
    profiles: list[Profile]
    cum: list[float]
    zones: list[ZoneInfo]
    on_event: dict[str, list[Rule]] = field(default_factory=dict)
    on_stage: dict[str, list[Rule]] = field(default_factory=dict)


def _cumulative(weights: Sequence[float]) -> list[float]:
    return list(itertools.accumulate(weights))


class Population:
    """`customers` people appearing over `days` from the model's start."""

    def __init__(
        self,
        model: BehaviourModel,
        customers: int,
        days: int,
        seed: int,
        *,
        shard: tuple[int, int] = (0, 1),
    ) -> None:
        if customers < 1 or days < 1:
            raise ValueError("a population needs at least one customer and one day")
        mine, shards = shard
        if not 0 <= mine < shards:
            raise ValueError(f"no shard {mine} of {shards}")
        self.model, self.customers, self.seed = model, customers, seed
        self.start = model.start
        self.end = model.start + timedelta(days=days)
        self._t0, self._t_end = int(self.start.timestamp()), int(self.end.timestamp())
        self._width = len(str(customers))
        self._compiled = [self._compile(p) for p in model.personas]
        self._persona_cum = _cumulative([p.share for p in model.personas])
        self._rng = random.Random()
        span = self._t_end - self._t0
        # Indexed by the customer's number in the whole population; only the shard's are drawn.
        arrival = array("l", [0]) * customers
        for i in range(mine, customers, shards):
            arrival[i] = self._arrival(i, span)
        self._arrival_at = arrival
        self._order = array("l", sorted(range(mine, customers, shards), key=arrival.__getitem__))
        self._next = 0
        self._persona = array("h", [0]) * customers
        self._home = array("h", [0]) * customers
        self._made = array("l", [0]) * customers  # events scheduled so far
        self._causes = array("l", [0]) * customers  # causes followed so far
        self._heap: list[_Pending] = []
        self._seq = itertools.count()
        self.scheduled = 0
        every_rule = [r for p in model.personas for r in model.rules_of(p)]
        self._carried = Carried(fields_read(every_rule))

    def _compile(self, persona: Persona) -> _Compiled:
        profiles = persona.profiles or self.model.defaults.profiles
        compiled = _Compiled(
            persona,
            profiles,
            _cumulative([p.share for p in profiles]),
            [ZoneInfo(p.timezone) for p in profiles],
        )
        for rule in self.model.rules_of(persona):
            if rule.after is not None:
                compiled.on_event.setdefault(rule.after, []).append(rule)
            elif rule.after_stage is not None:
                compiled.on_stage.setdefault(rule.after_stage, []).append(rule)
        return compiled

    def external_id(self, index: int) -> str:
        return f"{PREFIX}{index + 1:0{self._width}d}"

    def _arrival(self, index: int, span: int) -> int:
        self._rng.seed(f"{self.seed}/{index}")
        return self._t0 + int(self._rng.random() * span)

    def persona_of(self, index: int) -> Persona:
        """The persona of a customer who has appeared."""
        return self._compiled[self._persona[index]].persona

    @property
    def pending(self) -> int:
        """Events scheduled and not yet happened."""
        return len(self._heap)

    @property
    def carried(self) -> int:
        """Stages whose entering event's data is held for their rules."""
        return self._carried.held

    # --- customers appearing --------------------------------------------------------------

    def arrivals(self, until: datetime) -> list[Newcomer]:
        """The customers who appear before `until`; their first event is scheduled."""
        limit, found = until.timestamp(), []
        order = self._order
        while self._next < len(order) and self._arrival_at[order[self._next]] < limit:
            found.append(self._appear(self._order[self._next]))
            self._next += 1
        return found

    def _appear(self, index: int) -> Newcomer:
        rng = self._rng
        rng.seed(f"{self.seed}/{index}")
        rng.random()  # the arrival, drawn before
        at = self._arrival_at[index]
        kind = rng.choices(range(len(self._compiled)), cum_weights=self._persona_cum)[0]
        persona = self._compiled[kind]
        home = rng.choices(range(len(persona.profiles)), cum_weights=persona.cum)[0]
        self._persona[index], self._home[index] = kind, home
        p = persona.persona
        attributes = self.model.defaults.attributes if p.attributes is None else p.attributes
        consent = p.consent or self.model.defaults.consent
        external_id = self.external_id(index)
        when = datetime.fromtimestamp(at, UTC)
        came = newcomer(
            rng, external_id, index + 1, persona.profiles[home], attributes, consent, when
        )
        self._schedule(index, self._awake(index, at, rng), p.starts_with, p.starts_with.event, {})
        return came

    # --- events happening -----------------------------------------------------------------

    def due(self, until: datetime) -> tuple[list[IncomingEvent], list[ConsentRow]]:
        """The events that happen before `until` in time order, and the consent changes
        they bring; what follows from each is scheduled."""
        limit = until.timestamp()
        events: list[IncomingEvent] = []
        consent: list[ConsentRow] = []
        heap = self._heap
        while heap and heap[0][0] < limit:
            at, _, index, n, emits, kind, cause = heapq.heappop(heap)
            customer = self.external_id(index)
            rng = self._rng
            rng.seed(f"{self.seed}/{index}/event/{n}")
            kept = {}
            if isinstance(emits, Outcome):
                kept = {name: cause[name] for name in emits.keep if name in cause}
            data = draw_data(rng, emits.data, Drawing(customer, n, self._local(index, at)), kept)
            occurred = datetime.fromtimestamp(at, UTC)
            events.append(
                IncomingEvent(
                    source=emits.source,
                    external_id=f"{customer}-{n}",
                    type=kind,
                    customer_id=customer,
                    occurred_at=occurred,
                    data=data,
                )
            )
            consent.extend(
                consent_change(customer, channel, status, occurred)
                for channel, status in emits.consent.items()
            )
            rules = self._compiled[self._persona[index]].on_event.get(kind)
            if rules:
                self._follow(index, rules, at, data)
        self._carried.applying(events)
        return events, consent

    def observe(self, decisions: Sequence[Decision]) -> None:
        """The engine's decisions: a stage entered is a cause the model may follow, with
        the data of the event that entered it (see `carried`)."""
        for decision in decisions:
            if isinstance(decision, Ended) and decision.customer_id.startswith(PREFIX):
                self._carried.ended(self._index(decision.customer_id), decision)
            if not isinstance(decision, Transitioned) or not decision.customer_id.startswith(
                PREFIX
            ):
                continue
            index = self._index(decision.customer_id)
            cause = self._carried.entered(index, decision)
            compiled = self._compiled[self._persona[index]]
            rules = compiled.on_stage.get(f"{decision.journey}.{decision.to_stage}")
            if rules:
                self._follow(index, rules, int(decision.at.timestamp()), cause)

    @staticmethod
    def _index(customer_id: str) -> int:
        return int(customer_id[len(PREFIX) :]) - 1

    def _follow(self, index: int, rules: list[Rule], at: int, cause: dict[str, Any]) -> None:
        self._causes[index] += 1
        rng = self._rng
        rng.seed(f"{self.seed}/{index}/cause/{self._causes[index]}")
        for rule in rules:
            if rule.matching and not _matches(rule.matching, cause):
                continue
            outcome = _pick(rule.outcomes, rng.random())
            if outcome is None:
                continue
            base: int | None = at
            if outcome.of is not None:
                moment = read_moment(cause.get(outcome.of))
                base = None if moment is None else int(moment.timestamp())
            if base is None:
                continue  # no moment to count from: the cause lacks it
            low, high = outcome.delay
            then = base + int(rng.uniform(low.total_seconds(), high.total_seconds()))
            # Counted from a moment of the cause's data, it may fall before the cause
            # (a date already past): an event never precedes what caused it.
            then = max(then, at + 60)
            self._schedule(index, self._awake(index, then, rng), outcome, outcome.then, cause)

    def _schedule(
        self, index: int, at: int, emits: Emits, kind: str, cause: dict[str, Any]
    ) -> None:
        if at >= self._t_end or self._made[index] >= self.model.max_events:
            return  # after the last day, or a rule feeding itself: never happens here
        self._made[index] += 1
        self.scheduled += 1
        entry = (at, next(self._seq), index, self._made[index], emits, kind, cause)
        heapq.heappush(self._heap, entry)

    def _local(self, index: int, at: int) -> datetime:
        zone = self._compiled[self._persona[index]].zones[self._home[index]]
        return datetime.fromtimestamp(at, zone)

    def _awake(self, index: int, at: int, rng: random.Random) -> int:
        """`at`, or a moment in the next active hours of the customer's own time zone."""
        zone = self._compiled[self._persona[index]].zones[self._home[index]]
        local = datetime.fromtimestamp(at, zone)
        opens, closes = self.model.active_hours
        if _inside(local.time(), opens, closes):
            return at
        start = local.replace(hour=opens.hour, minute=opens.minute, second=0, microsecond=0)
        if start <= local:
            start += timedelta(days=1)
        length = _length(opens, closes)
        return int(start.timestamp() + rng.uniform(0, min(length, 3 * 3600)))


def _pick(outcomes: Sequence[Outcome], roll: float) -> Outcome | None:
    """The outcome a roll in [0, 1) falls on, by their p's in order; None past them."""
    for outcome in outcomes:
        if roll < outcome.p:
            return outcome
        roll -= outcome.p
    return None


def _inside(moment: time, opens: time, closes: time) -> bool:
    if opens < closes:
        return opens <= moment < closes
    return moment >= opens or moment < closes


def _length(opens: time, closes: time) -> float:
    seconds = (closes.hour * 60 + closes.minute - opens.hour * 60 - opens.minute) * 60
    return seconds if seconds > 0 else seconds + 86400


def _matches(wanted: dict[str, Any], data: dict[str, Any]) -> bool:
    for name, value in wanted.items():
        options = value if isinstance(value, list) else [value]
        if data.get(name) not in options:
            return False
    return True
