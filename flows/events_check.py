"""`journeyflow validate --events FILE`: a file of events checked against the tracking
plan, as the receiver would check them one by one: the types the plan does not
declare (with how many of each and a did-you-mean), and the events whose data does not
fit (the first ones named). Streamed: memory stays flat in the file's size."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from journeys.errors import did_you_mean
from journeys.tracking import TrackingPlan, check_event_data

from .events_file import BadLines, read_events_file

SHOWN = 20


@dataclass
class EventsCheck:
    events: int = 0
    undeclared: Counter[str] = field(default_factory=Counter)
    misfits: int = 0
    first: list[str] = field(default_factory=list)
    bad: BadLines = field(default_factory=BadLines)

    def problems(self, plan: TrackingPlan) -> list[str]:
        known = list(plan.events)
        lines = [
            f"event type '{kind}' ({n} event(s)) is not in the tracking plan"
            f"{did_you_mean(kind, known)}"
            for kind, n in sorted(self.undeclared.items())
        ]
        lines += self.first
        if self.misfits > len(self.first):
            lines.append(f"… and {self.misfits - len(self.first)} more event(s) that do not fit")
        lines += self.bad.first
        return lines

    @property
    def ok(self) -> bool:
        return not (self.undeclared or self.misfits or self.bad.count)


def check_events_file(path: Path, plan: TrackingPlan) -> EventsCheck:
    """Every event of `path` against `plan`; bad lines are counted, never raised."""
    check = EventsCheck()
    for event in read_events_file(path, on_error="skip", bad=check.bad):
        check.events += 1
        if event.type not in plan.events:
            check.undeclared[event.type] += 1
            continue
        wrong = check_event_data(plan, event.type, dict(event.data))
        if wrong:
            check.misfits += 1
            if len(check.first) < SHOWN:
                check.first.append(
                    f"{event.type} {event.source}:{event.external_id}: {'; '.join(wrong)}"
                )
    return check
