"""The in-process processor of the receiver: inbox events applied, due actions sent.

A receiver stores events before it answers; the pump then applies them at once, so a
thank-you email goes out seconds after the shop reported the order rather than at the
next scheduled run. One background thread per process: a wake-up while a pass runs
only asks for one more pass (wake-ups coalesce), and a periodic tick retries whatever
a failed pass left. The scheduled `ingest-events` and `dispatch-due` flows remain the
safety net, and running beside them is safe: inbox batches and dispatch claims are
taken under locks, so no event is applied and no message is sent twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from journeys.store import BatchResult
from journeys.store.outbox.claims import DEFAULT_MAX_ATTEMPTS

from . import runtime
from .dispatch import DEFAULT_LEASE, DispatchSummary
from .schedules import job_params

log = logging.getLogger("journeyflow.pump")

TICK_SECONDS = 30.0


@dataclass(frozen=True)
class PumpSettings:
    """Batch sizes and send options; the defaults are those of the deployments."""

    ingest_batch: int = 500
    ingest_max_batches: int = 100
    dispatch_batch: int = 200
    dispatch_max_batches: int = 50
    concurrency: int = 4
    lease: timedelta = DEFAULT_LEASE
    max_attempts: int = DEFAULT_MAX_ATTEMPTS

    @classmethod
    def from_jobs(cls, lease: timedelta | None = None) -> PumpSettings:
        """The parameters of the `ingest` and `dispatch` deployments (flows.schedules),
        with `lease` instead of the dispatch job's if given."""
        ingest, dispatch = job_params("ingest"), job_params("dispatch")
        return cls(
            ingest_batch=ingest["batch_size"],
            ingest_max_batches=ingest["max_batches"],
            dispatch_batch=dispatch["batch_size"],
            dispatch_max_batches=dispatch["max_batches"],
            concurrency=dispatch["concurrency"],
            lease=lease or timedelta(seconds=dispatch["lease_seconds"]),
            max_attempts=dispatch.get("max_attempts", DEFAULT_MAX_ATTEMPTS),
        )


@dataclass(frozen=True)
class PassResult:
    ingested: BatchResult | None  # None: the step failed (logged) and waits for a retry
    dispatched: DispatchSummary | None


class InboxPump:
    """Applies the inbox and dispatches due actions on a thread, whenever woken."""

    def __init__(
        self,
        store: runtime.Store,
        sender: runtime.Sender,
        *,
        settings: PumpSettings | None = None,
        tick: float = TICK_SECONDS,
        clock: Callable[[], datetime] = runtime.wall_clock,
    ) -> None:
        self.store = store
        self.sender = sender
        self.settings = settings or PumpSettings.from_jobs()
        self.tick = tick
        self.clock = clock
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self, new: int = 1) -> None:
        """Ask for a pass soon; many calls before it starts make one pass."""
        self._wake.set()

    def start(self) -> None:
        if self._thread is not None:
            raise RuntimeError("the inbox pump is already running")
        self._thread = threading.Thread(target=self._loop, name="inbox-pump", daemon=True)
        self._thread.start()
        self.wake()  # whatever a previous process left in the inbox

    def stop(self, timeout: float = 60) -> None:
        """Finish the batch in progress, start no other, and wait for the thread."""
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("inbox pump: a batch still runs after %.0f s; leaving it", timeout)
            self._thread = None

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.tick)
            if self._stopping.is_set():
                break
            self._wake.clear()
            self.run_pass()

    def run_pass(self) -> PassResult:
        """Drain the inbox, then send what fell due; a failed step waits for the next pass."""
        ingested = self._guarded("ingest", self._ingest)
        dispatched = self._guarded("dispatch", self._dispatch)
        if ingested and (ingested.events or ingested.duplicates):
            log.info("inbox pump: %s", ingested)
        if dispatched and dispatched.claimed:
            log.info("inbox pump: dispatched %s", dict(dispatched.outcomes))
        return PassResult(ingested, dispatched)

    def _ingest(self) -> BatchResult:
        s = self.settings

        def step() -> BatchResult:
            if self._stopping.is_set():
                return BatchResult()  # short: ends the drain after the batch in progress
            return runtime.ingest_batch(self.store, self.clock(), s.ingest_batch)

        total, _ = runtime.drain(
            step, s.ingest_batch, s.ingest_max_batches, done=lambda r: r.events
        )
        return total

    def _dispatch(self) -> DispatchSummary:
        s = self.settings

        def step() -> DispatchSummary:
            if self._stopping.is_set():
                return DispatchSummary()
            return runtime.dispatch_batch(
                self.store,
                self.sender,
                self.clock(),
                batch_size=s.dispatch_batch,
                virtual=False,
                lease=s.lease,
                max_attempts=s.max_attempts,
                concurrency=s.concurrency,
            )

        return runtime.drain_outbox(step, s.dispatch_batch, s.dispatch_max_batches)

    def _guarded(self, step: str, work: Callable[[], Any]) -> Any:
        try:
            return work()
        except Exception as exc:
            # The class only: database errors quote their parameters (addresses, names).
            kind = "transient" if runtime.is_transient(exc) else "failed"
            log.warning(
                "inbox pump: %s %s (%s); retried on the next wake-up or within %.0f s",
                step,
                kind,
                _error_name(exc),
                self.tick,
            )
            return None


def _error_name(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)  # the driver's error under SQLAlchemy's wrapper
    name = type(exc).__name__
    return f"{name} from {type(orig).__name__}" if orig is not None else name
