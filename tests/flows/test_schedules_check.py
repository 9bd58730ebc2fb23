"""validate says when the journeys' timers have no scheduled sweep to fire them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import yaml

from flows.schedules_check import sweep_interval, timer_warnings
from journeys import load_journeys
from journeys.config import PROJECT_ROOT

JOURNEYS = load_journeys()


def test_the_shipped_prefect_yaml_sweeps_the_timers_every_five_minutes() -> None:
    spec = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text(encoding="utf-8"))
    assert sweep_interval(spec) == timedelta(minutes=5)
    assert timer_warnings(JOURNEYS, PROJECT_ROOT / "prefect.yaml") == []


def test_no_sweep_or_a_sweep_slower_than_a_schedule_is_said(tmp_path: Path) -> None:
    none = tmp_path / "prefect.yaml"
    none.write_text(
        "deployments:\n  - name: d\n    entrypoint: flows.jobs.dispatch_due\n", encoding="utf-8"
    )
    [warning] = timer_warnings(JOURNEYS, none)
    assert "no scheduled deployment runs flows.jobs.advance_timers" in warning
    assert "weekly_digest" in warning and "birthday_club" in warning
    slow = tmp_path / "slow.yaml"
    slow.write_text(
        "deployments:\n  - name: t\n    entrypoint: flows.jobs.advance_timers\n"
        "    schedules:\n      - interval: 1209600\n",  # every two weeks
        encoding="utf-8",
    )
    [warning] = timer_warnings(JOURNEYS, slow)
    assert "less often than the finest schedule" in warning
    broken = tmp_path / "broken.yaml"
    broken.write_text("deployments: [", encoding="utf-8")
    assert "cannot read the deployments" in timer_warnings(JOURNEYS, broken)[0]
