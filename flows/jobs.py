"""The Prefect flows that `prefect.yaml` deploys and `journeyflow serve` serves.

* `ingest_events`: apply the events the receivers stored in the inbox;
* `advance_timers`: fire the time-based transitions that fell due, and enter the
  customers whose segment time made true (optionally for some journeys only: the daily
  re-engagement sweep);
* `dispatch_due`: send the actions that fell due, through the configured channels;
* `daily_report` (in `flows.report_job`, here for the deployments): the report of the
  last days as Prefect artifacts, an HTML page and the KPIs as its result.

Each flow makes one task run per batch of hundreds of customers, never one per customer
(Prefect's per-run cost is milliseconds; a customer's share of a batch must be less),
returns its counts per outcome and publishes them as a Markdown artifact. The logic is
in `flows.runtime` and `flows.dispatch`; tasks are thin, so that a failed batch is
retried on its own. Every batch is one transaction and every send is guarded by its
claim, so a retried batch repeats no effect.

`run_once` runs the same three steps in order without Prefect (the demo, tests, a cron
job on a machine without a Prefect server).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun
from prefect.exceptions import MissingContextError
from prefect.tasks import Task, exponential_backoff
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from journeys.store import BatchResult
from journeys.store.outbox.claims import DEFAULT_MAX_ATTEMPTS

from . import runtime
from .dispatch import DEFAULT_LEASE, DispatchSummary
from .report_job import ReportParams, daily_report, report_file

# The daily report is deployed as flows.jobs.daily_report, as the other jobs.
__all__ = ["ReportParams", "daily_report", "report_file"]

INBOX_EVENT = "journeyflow.inbox.received"
INBOX_RESOURCE = "journeyflow.inbox"


# --- parameters ---------------------------------------------------------------------------


class _Params(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    batch_size: int = Field(500, ge=1, le=10_000, description="Customers per batch (task run)")
    max_batches: int = Field(100, ge=1, description="Batches per run; the rest waits for the next")
    now: AwareDatetime | None = Field(
        None, description="Decide as of this time instead of the wall clock (replays, tests)"
    )


class IngestParams(_Params):
    """How `ingest-events` works through the inbox."""


class TimerParams(_Params):
    """How `advance-timers` sweeps; `journeys` limits a sweep to those journeys."""

    journeys: list[str] | None = Field(
        None, description="Journey keys to sweep (default: every registered journey)"
    )


class DispatchParams(_Params):
    """How `dispatch-due` sends."""

    batch_size: int = Field(200, ge=1, le=5_000, description="Actions claimed per batch")
    concurrency: int = Field(4, ge=1, le=64, description="Requests in flight per channel")
    lease_seconds: float = Field(
        DEFAULT_LEASE.total_seconds(),
        ge=5,
        le=3600,
        description="How long a claim holds without renewal (renewed at every chunk); "
        "a crashed dispatcher's actions are free again after it",
    )
    max_attempts: int = Field(DEFAULT_MAX_ATTEMPTS, ge=1, description="Sends before giving up")


def _dispatch_options(params: DispatchParams) -> dict[str, Any]:
    return {
        "batch_size": params.batch_size,
        "virtual": params.now is not None,
        "lease": timedelta(seconds=params.lease_seconds),
        "max_attempts": params.max_attempts,
        "concurrency": params.concurrency,
    }


INGEST_DEFAULTS = IngestParams()
TIMER_DEFAULTS = TimerParams()
DISPATCH_DEFAULTS = DispatchParams()


# --- tasks ---------------------------------------------------------------------------------
# One call, one batch, one task run. Tasks take only small arguments (the store and the
# channels are per-process caches in `runtime`), and never answer from a cache
# (NO_CACHE): two calls with equal arguments are two batches.


def retry_if_transient(task: Task[..., object], task_run: TaskRun, state: State) -> bool:
    """Retry a batch only for a busy database or a provider that said "later"."""
    exc = state.data
    return isinstance(exc, BaseException) and runtime.is_transient(exc)


_BACKOFF = exponential_backoff(backoff_factor=2)  # 2, 4, 8 s, jittered by half


@task(
    name="apply-inbox-batch",
    retries=3,
    retry_delay_seconds=_BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def apply_inbox_batch(now: datetime, limit: int) -> BatchResult:
    result = runtime.ingest_batch(runtime.open_store(), now, limit)
    get_run_logger().info("applied %s", result)
    return result


@task(
    name="fire-due-timers",
    retries=3,
    retry_delay_seconds=_BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def fire_due_timers(now: datetime, limit: int, journeys: list[str] | None) -> BatchResult:
    result = runtime.timers_batch(runtime.open_store(), now, limit, journeys)
    get_run_logger().info("timers: %s", result)
    return result


@task(
    name="send-due-batch",
    retries=3,
    retry_delay_seconds=_BACKOFF,
    retry_jitter_factor=0.5,
    retry_condition_fn=retry_if_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
def send_due_batch(now: datetime, params: DispatchParams) -> DispatchSummary:
    store, sender = runtime.open_store(), runtime.open_sender()
    summary = runtime.dispatch_batch(store, sender, now, **_dispatch_options(params))
    get_run_logger().info("claimed %s: %s", summary.claimed, dict(summary.outcomes))
    return summary


# --- flows ---------------------------------------------------------------------------------


def _publish(
    key: str, title: str, counts: dict[str, int], summary: DispatchSummary | None = None
) -> None:
    try:
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger] = get_run_logger()
    except MissingContextError:  # the flow's plain function (`.fn`), called directly
        logging.getLogger(__name__).info("%s: %s", title, counts)
        return
    logger.info("%s: %s", title, counts)
    create_markdown_artifact(
        markdown=runtime.markdown_summary(title, counts, summary),
        key=key,
        description=f"{title}: counts per outcome",
    )


@flow(name="ingest-events", description="Apply the events waiting in the inbox, batch by batch.")
def ingest_events(params: IngestParams = INGEST_DEFAULTS) -> dict[str, int]:
    runtime.open_store()  # schema and journeys before the first batch, outside its retries
    started = params.now or runtime.wall_clock()
    total, batches = runtime.drain(
        lambda: apply_inbox_batch(params.now or runtime.wall_clock(), params.batch_size),
        params.batch_size,
        params.max_batches,
        done=lambda r: r.events,
    )
    counts = runtime.batch_counts(total, batches)
    _publish("ingest-events", f"ingest-events at {started:%Y-%m-%d %H:%M} UTC", counts)
    return counts


@flow(name="advance-timers", description="Fire the time-based transitions that fell due.")
def advance_timers(params: TimerParams = TIMER_DEFAULTS) -> dict[str, int]:
    # An unknown journey in `params.journeys` fails the run here, before any batch.
    runtime.open_store().registry_for(params.journeys)
    # One `now` for the whole sweep: timers falling due meanwhile wait for the next one.
    now = params.now or runtime.wall_clock()
    total, batches = runtime.drain(
        lambda: fire_due_timers(now, params.batch_size, params.journeys),
        params.batch_size,
        params.max_batches,
        done=lambda r: r.timers,
    )
    counts = runtime.batch_counts(total, batches)
    journeys = sorted(params.journeys or ())
    scope = ", ".join(journeys) or "all journeys"
    key = "-".join(["advance-timers", *journeys]).replace("_", "-").lower()
    _publish(key, f"advance-timers ({scope}) at {now:%Y-%m-%d %H:%M} UTC", counts)
    return counts


@flow(name="dispatch-due", description="Send the actions that fell due, batch by batch.")
def dispatch_due(params: DispatchParams = DISPATCH_DEFAULTS) -> dict[str, int]:
    runtime.open_store()
    runtime.open_sender()  # a channel misconfiguration fails the run before any claim
    started = params.now or runtime.wall_clock()
    # Each batch is claimed at the time it starts, so later batches get full leases.
    total = runtime.drain_outbox(
        lambda: send_due_batch(params.now or runtime.wall_clock(), params),
        params.batch_size,
        params.max_batches,
    )
    counts = runtime.dispatch_counts(total)
    _publish("dispatch-due", f"dispatch-due at {started:%Y-%m-%d %H:%M} UTC", counts, total)
    return counts


# --- without Prefect -------------------------------------------------------------------------


def run_once(
    now: datetime | None = None,
    *,
    batch_size: int = 500,
    max_batches: int = 100,
    lease: timedelta | None = None,
) -> dict[str, dict[str, int]]:
    """Ingest, then timers, then dispatch, once each, as plain calls (no flow or task runs).

    `now` is a virtual clock for all three; without it each batch reads the wall clock.
    """
    store, sender = runtime.open_store(), runtime.open_sender()

    def at() -> datetime:
        return now or runtime.wall_clock()

    ingested = runtime.drain(
        lambda: runtime.ingest_batch(store, at(), batch_size),
        batch_size,
        max_batches,
        done=lambda r: r.events,
    )
    swept = runtime.drain(
        lambda: runtime.timers_batch(store, at(), batch_size),
        batch_size,
        max_batches,
        done=lambda r: r.timers,
    )
    params = DispatchParams(now=now)
    if lease is not None:
        params = params.model_copy(update={"lease_seconds": lease.total_seconds()})
    options = _dispatch_options(params)
    sent = runtime.drain_outbox(
        lambda: runtime.dispatch_batch(store, sender, at(), **options),
        options["batch_size"],
        max_batches,
    )
    return {
        "ingest": runtime.batch_counts(*ingested),
        "timers": runtime.batch_counts(*swept),
        "dispatch": runtime.dispatch_counts(sent),
    }


def notify_inbox(received: int) -> None:
    """Tell Prefect that events arrived, so the `ingest` deployment's trigger starts a run.

    Receivers call this once per request (a batch), not per event; the trigger in
    prefect.yaml starts at most one run per window and the schedule covers the rest.
    """
    from prefect.events import emit_event

    emit_event(
        event=INBOX_EVENT,
        resource={"prefect.resource.id": INBOX_RESOURCE},
        payload={"received": received},
    )
