"""Running a scenario: its events through the production path, on a fake clock.

The clock jumps from one moment at which something can happen to the next: a step of
the scenario, a timer falling due (`enrollment.timer_due_at`), an action falling due
(`action_run.due_at`, deferrals included). At each moment the production functions
run in production's order: the events are applied (`apply_events`), the timers swept
(`advance_timers`), the due actions dispatched (`dispatch_due` with the production
`SendRules` and renderer) to channels that record instead of sending. A message is
therefore sent at the exact time production would send it, and nothing of the rules
is modelled twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from channels.message import ChannelKind
from channels.render import Renderer
from journeys.decisions import Decision
from journeys.errors import JourneyflowError
from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    session_scope,
)
from journeys.store.people.profile_rules import parse_profile
from journeys.store.people.profiles import give_consent, upsert_customer
from journeys.store.tables import action_run_t, enrollment_t, segment_timer_t

from ..dispatch import dispatch_due
from ..replay import Clock, replay_renderer
from .model import ConsentStep, EventStep, ProfileStep, Scenario
from .recording import RecordingChannel, RecordingRules
from .records import ScenarioRun, collect, current_stage
from .stores import MemoryStores, StoreFactory
from .timeline import Timeline, end_of

# A scenario that needs more moments than this loops (a deferral that never ends).
MAX_MOMENTS = 10_000
SWEEP_LIMIT = 1000
SOURCE = "scenario"
KINDS: tuple[ChannelKind, ...] = ("email", "sms", "webhook")

Step = EventStep | ConsentStep | ProfileStep


class ScenarioStuck(JourneyflowError):
    """The scenario's clock would never reach its end."""


class Kit:
    """What the scenarios of one run share: the journeys, a renderer, fresh stores."""

    def __init__(
        self,
        journeys: Iterable[Journey],
        templates: Path,
        stores: StoreFactory | None = None,
    ) -> None:
        self.journeys = {j.journey: j for j in journeys}
        self.templates = templates
        self._own_stores = stores is None
        self.stores: StoreFactory = stores if stores is not None else MemoryStores()
        self._renderer: Renderer | None = None

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            self._renderer = replay_renderer(self.journeys.values(), self.templates)
        return self._renderer

    def close(self) -> None:
        if self._own_stores and isinstance(self.stores, MemoryStores):
            self.stores.close()

    def run(self, scenario: Scenario, journey: Journey | str) -> ScenarioRun:
        """Run one scenario of `journey` in a store of its own; what it did."""
        if isinstance(journey, str):
            journey = self.journeys[journey]
        with self.stores() as engine:
            return _Run(self, scenario, journey, engine).run()


class _Run:
    def __init__(self, kit: Kit, scenario: Scenario, journey: Journey, engine: Engine) -> None:
        self.kit = kit
        self.scenario = scenario
        self.journey = journey
        self.engine = engine
        self.timeline = Timeline.of(scenario, journey)
        self.registry = JourneyRegistry()
        self.clock = Clock(self.timeline.start)
        self.channels: dict[str, RecordingChannel] = {
            kind: RecordingChannel(kind, self.clock) for kind in KINDS
        }
        self.rules = RecordingRules()
        self.decisions: list[Decision] = []
        self.customer_id = 0

    def run(self) -> ScenarioRun:
        timeline = self.timeline
        end = end_of(self.scenario, timeline)
        result = ScenarioRun(self.scenario, self.journey, timeline, end)
        steps = sorted(
            enumerate(self.scenario.events), key=lambda item: (timeline.at(item[1].at), item[0])
        )
        pending = deque((timeline.at(step.at), n, step) for n, step in steps)
        self._setup()
        now = timeline.start
        for _ in range(MAX_MOMENTS):
            due: list[tuple[int, Step]] = []
            while pending and pending[0][0] <= now:
                _, n, step = pending.popleft()
                due.append((n, step))
            self._moment(now, due)
            with self.engine.connect() as conn:
                where = current_stage(conn, self.customer_id, self.journey.journey)
            result.path.append((now, *where))
            following = [t for t in (pending[0][0] if pending else None, *self._due()) if t]
            if not following or min(following) > end:
                break
            # Never backwards: what is due now was done now.
            now = max(min(following), now + timedelta(microseconds=1))
        else:
            raise ScenarioStuck(
                f"the scenario did not reach its end after {MAX_MOMENTS} moments; "
                "give it an earlier 'until'"
            )
        result.decisions = self.decisions
        with self.engine.connect() as conn:
            collect(result, conn, self.customer_id, self.channels, self.rules.held)
        return result

    def _setup(self) -> None:
        """The journey registered; the customer and their consent stored at the start."""
        customer, start = self.scenario.customer, self.timeline.start
        with session_scope(self.engine) as session:
            self.registry.register(session, [self.journey])
            self.customer_id, _ = upsert_customer(session, customer.id, customer.profile(), start)
            for channel, status in customer.consent_in_force().items():
                self._consent(session, channel, status, start)

    def _consent(self, db: object, channel: str, status: str, at: datetime) -> None:
        give_consent(db, self.customer_id, channel, status, source=SOURCE, at=at, confirmed=True)

    def _moment(self, now: datetime, steps: Sequence[tuple[int, Step]]) -> None:
        observe = self.decisions.extend
        events: list[IncomingEvent] = []
        with session_scope(self.engine) as session:
            for n, step in steps:
                if isinstance(step, ProfileStep):
                    upsert_customer(session, self.scenario.customer.id, dict(step.customer), now)
                elif isinstance(step, ConsentStep):
                    for channel, status in step.consent.items():
                        self._consent(session, channel, status, now)
                else:
                    events.append(self._event(n, step, now))
        if events:
            with session_scope(self.engine) as session:
                apply_events(session, self.registry, events, now, observe=observe)
        # The sweep and the dispatcher would find nothing to do at most moments: asking
        # the store first is the same answer for a fraction of the work.
        timer, action = self._due()
        while timer is not None and timer <= now:
            with session_scope(self.engine) as session:
                swept = advance_timers(
                    session, self.registry, now, limit=SWEEP_LIMIT, observe=observe
                )
            timer, action = self._due()
            if not swept.timers:
                break  # what is left is not the sweep's to fire
        if action is None or action > now:
            return
        self.clock.now = now
        dispatch_due(
            self.engine,
            self.registry,
            self.channels,
            self.kit.renderer,
            now,
            worker="scenario",
            policy=self.rules,
            concurrency=1,
        )

    def _event(self, n: int, step: EventStep, now: datetime) -> IncomingEvent:
        profile = None if step.customer is None else parse_profile(dict(step.customer))
        return IncomingEvent(
            source=step.source,
            # Numbered in the file's order: events at the same time apply in that order.
            external_id=step.id or f"{n + 1:05d}",
            type=step.type,
            customer_id=self.scenario.customer.id,
            occurred_at=now,
            data=dict(step.data),
            customer=profile,
        )

    def _due(self) -> tuple[datetime | None, datetime | None]:
        """The next timer and the next action due in the store (one customer's rows)."""
        e, a = enrollment_t, action_run_t
        with self.engine.connect() as conn:
            timer = conn.execute(select(func.min(e.c.timer_due_at))).scalar()
            segment = conn.execute(select(func.min(segment_timer_t.c.due_at))).scalar()
            if segment is not None and (timer is None or segment < timer):
                timer = segment
            action = conn.execute(
                select(func.min(a.c.due_at)).where(a.c.status == "pending")
            ).scalar()
        return timer, action
