"""The deployments' table: each job's flow, schedule and parameters.

Read by `serve` (which builds the deployments from it), by the receiver's inbox pump
(which sends with the dispatch job's parameters) and by the tests that keep it equal to
prefect.yaml. A module of its own, so that neither has to import the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Job:
    """One deployment: which flow, when, with what parameters."""

    name: str
    flow: str  # attribute of flows.jobs
    cron: str
    timezone: str
    description: str
    parameters: dict[str, Any]
    tags: tuple[str, ...] = ("journeyflow",)
    inbox_trigger: bool = False


# Keep in step with prefect.yaml (tests/flows/test_jobs.py compares them).
JOBS: tuple[Job, ...] = (
    Job(
        "ingest",
        "ingest_events",
        "* * * * *",
        "UTC",
        "Apply the events the receivers stored in the inbox.",
        {"params": {"batch_size": 500, "max_batches": 100}},
        inbox_trigger=True,
    ),
    Job(
        "timers",
        "advance_timers",
        "*/5 * * * *",
        "UTC",
        "Fire the time-based transitions that fell due, in every journey.",
        {"params": {"batch_size": 500, "max_batches": 100}},
    ),
    Job(
        "reengagement-sweep",
        "advance_timers",
        "0 9 * * *",
        "Europe/Berlin",
        "Daily morning sweep of the re-engagement journey (customer_lifecycle).",
        {"params": {"batch_size": 500, "max_batches": 200, "journeys": ["customer_lifecycle"]}},
        tags=("journeyflow", "reengagement"),
    ),
    Job(
        "dispatch",
        "dispatch_due",
        "* * * * *",
        "UTC",
        "Send the actions that fell due through the configured channels.",
        {"params": {"batch_size": 200, "max_batches": 50, "concurrency": 4, "lease_seconds": 60}},
    ),
    Job(
        "daily-report",
        "daily_report",
        "30 6 * * *",
        "Europe/Berlin",
        "The report of the last 30 days as Prefect artifacts, the HTML page and the KPIs.",
        {"params": {"days": 30}},
        tags=("journeyflow", "report"),
    ),
)


def job_params(name: str) -> dict[str, Any]:
    """The `params` of the job called `name`."""
    params: dict[str, Any] = next(j for j in JOBS if j.name == name).parameters["params"]
    return params
