"""Do the journeys' timers have a deployment that fires them?

Timers (`after`, `no_event_for`, `every_year`, and schedules `every`) move customers
only when the timer sweep runs: the `flows.jobs.advance_timers` deployment of the
project's `prefect.yaml` (./prefect.yaml, else the shipped one), on a schedule. A
journey with a cron schedule finer than the sweep's is late by up to the sweep's
interval: said too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from journeys.config import shipped_file
from journeys.model import (
    DelayTrigger,
    InactivityTrigger,
    Journey,
    ScheduleTrigger,
    SegmentTrigger,
    YearlyTrigger,
)
from journeys.send_time import next_run

SWEEP = "flows.jobs.advance_timers"


def prefect_file() -> Path:
    own = Path.cwd() / "prefect.yaml"
    return own if own.is_file() else shipped_file("prefect.yaml")


def sweep_interval(spec: Any) -> timedelta | None:
    """The shortest gap between runs of the timer sweep's scheduled deployments, None
    when no deployment of it has a schedule."""
    gaps = []
    for deployment in (spec or {}).get("deployments") or []:
        if not isinstance(deployment, dict) or deployment.get("entrypoint") != SWEEP:
            continue
        for schedule in deployment.get("schedules") or []:
            if not isinstance(schedule, dict) or schedule.get("active") is False:
                continue
            if "interval" in schedule:
                gaps.append(timedelta(seconds=float(schedule["interval"])))
            elif isinstance(schedule.get("cron"), str):
                gaps.append(_cron_gap(schedule["cron"]))
    return min(gaps) if gaps else None


def _cron_gap(cron: str) -> timedelta:
    from zoneinfo import ZoneInfo

    zone = ZoneInfo("UTC")
    start = datetime(2026, 1, 5, tzinfo=UTC)
    first = next_run(cron, start, zone)
    return next_run(cron, first, zone) - first


def timer_warnings(journeys: Iterable[Journey], spec_path: Path | None = None) -> list[str]:
    """What the operator should know about the sweep the journeys' timers need."""
    path = spec_path or prefect_file()
    timed = []
    finest: timedelta | None = None
    for journey in journeys:
        for stage in journey.stages:
            for trigger in stage.enter_when:
                if isinstance(
                    trigger, DelayTrigger | InactivityTrigger | YearlyTrigger | ScheduleTrigger
                ) or (isinstance(trigger, SegmentTrigger) and _on_time(trigger.segment)):
                    timed.append(journey.journey)
                if isinstance(trigger, ScheduleTrigger):
                    gap = _cron_gap(trigger.every)
                    finest = gap if finest is None or gap < finest else finest
    if not timed:
        return []
    try:
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path}: cannot read the deployments ({exc}); timers need {SWEEP} scheduled"]
    interval = sweep_interval(spec)
    names = ", ".join(sorted(set(timed)))
    if interval is None:
        return [
            f"{path}: no scheduled deployment runs {SWEEP}: the timers of {names} "
            "(after, no_event_for, every_year, every) would never fire"
        ]
    if finest is not None and interval > finest:
        return [
            f"{path}: the timer sweep runs every {interval}, less often than the finest "
            f"schedule of the journeys ({finest}): runs would be late or merged"
        ]
    return []


def _on_time(condition: str) -> bool:
    """A segment on time (`now`) comes true by time passing: the timer sweep enters it."""
    from journeys.conditions import compile_condition

    return compile_condition(condition).uses_now
