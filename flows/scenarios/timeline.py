"""A scenario's clock: its start, its time zone, and what its times mean as instants."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from journeys.model import Journey
from journeys.policy import customer_zone
from journeys.types import format_duration

from .model import DEFAULT_RUN_ON, DEFAULT_START, Scenario


@dataclass(frozen=True)
class Timeline:
    start: datetime  # UTC
    zone: ZoneInfo

    @classmethod
    def of(cls, scenario: Scenario, journey: Journey) -> Timeline:
        """The customer's own zone, else the journey's, as the send rules read it."""
        zone = customer_zone(scenario.customer.timezone, journey.settings)
        start = scenario.start or DEFAULT_START
        local = start if start.tzinfo is not None else start.replace(tzinfo=zone)
        return cls(local.astimezone(UTC), zone)

    def at(self, moment: timedelta | datetime) -> datetime:
        """The instant a scenario time names (UTC)."""
        if isinstance(moment, timedelta):
            return self.start + moment
        local = moment if moment.tzinfo is not None else moment.replace(tzinfo=self.zone)
        return local.astimezone(UTC)

    def since_start(self, instant: datetime) -> str:
        """'+3d2h': how it is written in a scenario, and shown in its results."""
        offset = instant - self.start
        if offset < timedelta(0):
            return "-" + format_duration(-offset)
        return "+" + format_duration(offset)

    def describe(self) -> str:
        local = self.start.astimezone(self.zone)
        return f"{local:%a %Y-%m-%d %H:%M} {self.zone.key}"


def end_of(scenario: Scenario, timeline: Timeline) -> datetime:
    """`until`, else 30 days after the last time the scenario names."""
    if scenario.until is not None:
        return timeline.at(scenario.until)
    expect = scenario.expect
    named = [step.at for step in scenario.events]
    named += [stage.at for stage in expect.stages]
    named += [m.at for m in expect.sent or () if m.at is not None]
    named += [d.until for d in expect.deferred or () if d.until is not None]
    last = max((timeline.at(m) for m in named), default=timeline.start)
    return max(last, timeline.start) + DEFAULT_RUN_ON
