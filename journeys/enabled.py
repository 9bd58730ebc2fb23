"""Which journeys run, and where the ones that run would send a message twice.

A team runs the journeys it enables: every journey not marked `enabled: false`, or
exactly those JOURNEYFLOW_ENABLED_JOURNEYS lists. Two enabled journeys that send the
same template on the same event send it once (the store writes the others as skipped,
see `journeys.store.state.batch`); `overlaps` tells the team before they run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import enabled_journeys
from .errors import Problem, UnknownJourneyError
from .loader import SourceMap, locate
from .model import EventTrigger, Journey, _MessageAction

HOW_TO_CHOOSE = "enable only one of them (enabled: false, or JOURNEYFLOW_ENABLED_JOURNEYS)"


def enabled(journeys: Iterable[Journey]) -> list[Journey]:
    """The journeys that run: those JOURNEYFLOW_ENABLED_JOURNEYS lists, else those not
    marked `enabled: false`. An unknown key in the setting is an error, not a silence."""
    given = list(journeys)
    listed = enabled_journeys()
    if listed is None:
        return [j for j in given if j.enabled]
    known = {j.journey for j in given}
    for key in listed:
        if key not in known:
            raise UnknownJourneyError(key, sorted(known))
    return [j for j in given if j.journey in listed]


@dataclass(frozen=True)
class _Sender:
    journey: str
    stage: str
    file: str
    line: int | None


def overlaps(checked: list[tuple[Journey, SourceMap, str]]) -> list[Problem]:
    """Warn where two enabled journeys send the same message on the same event: the
    customer gets it once (from the first), so one of them is probably not meant to run.
    Delayed messages are left out: the store does not merge them either."""
    problems: list[Problem] = []
    first: dict[tuple[str, str, str], _Sender] = {}
    running = {j.journey for j in enabled(j for j, _, _ in checked)}
    for journey, spots, file in checked:
        if journey.journey not in running:
            continue
        seen: set[tuple[str, str, str]] = set()
        for i, stage in enumerate(journey.stages):
            events = [t.event for t in stage.enter_when if isinstance(t, EventTrigger)]
            for a, action in enumerate(stage.on_enter):
                if not isinstance(action, _MessageAction) or action.after is not None:
                    continue
                where = ("stages", i, "on_enter", a, action.kind)
                line, col = locate(spots, where)
                here = _Sender(journey.journey, stage.key, file, line)
                for event in events:
                    for template in action.templates:
                        message = (event, action.kind, template)
                        owner = first.setdefault(message, here)
                        if owner.journey == journey.journey or message in seen:
                            continue
                        seen.add(message)
                        at = f"{owner.file}:{owner.line}" if owner.line else owner.file
                        problems.append(
                            Problem(
                                f"journeys {owner.journey} (stage {owner.stage}, {at}) and "
                                f"{journey.journey} (stage {stage.key}) both send {template} "
                                f"({action.kind}) on {event}: the customer gets it once, "
                                f"from {owner.journey}; {HOW_TO_CHOOSE}",
                                file,
                                line,
                                col,
                                where,
                                "warning",
                            )
                        )
    return problems
