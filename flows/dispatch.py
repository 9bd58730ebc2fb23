"""Dispatch: send the actions that fell due, exactly once up to the provider.

`dispatch_due` is the plain function the Prefect flow wraps. Per batch of claimed actions:

1. claim them (one transaction; expired leases are recovered first, see
   `journeys.store.outbox.claims` for why a lost send becomes `unknown` instead of a resend).
   Actions that were caught in dispatcher crashes are claimed and sent one at a time
   first, so that a poison message, if there is one, shows itself alone;
2. decide each without I/O, a chunk of `concurrency` messages at a time: the policy
   may defer or skip it; a holdout variant is skipped; a missing address or an
   unrenderable message fails it with the reason;
3. one short transaction per chunk, on the wall clock: those outcomes, the previous
   chunk's results, the batch's lease renewed, and `send_started_at` for the chunk
   about to leave; only messages whose claim still holds are sent, so a batch that
   lost its lease stops sending. A chunk is `concurrency` requests, or for a channel that takes a
   whole chunk in one call (`send_batch`, the outbox folder) its own `batch_size`;
4. send the chunk through its kind's channel, its requests in flight together
   (`channels.ratelimit.start_many`), and decide the next chunk meanwhile;
5. the last chunk's sent / failed / unknown in a final transaction; a
   `RetryableSendError` is retried with exponential backoff until the attempts (sends,
   never claims) are used up, then failed.

A problem with one action (a template error, a bad address, a policy that raises)
settles that action and never stops the batch.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from channels.protocol import Channel
from channels.render import Renderer
from journeys.model import Journey
from journeys.policy import Defer, Skip
from journeys.store import JourneyRegistry, session_scope
from journeys.store.outbox.claims import (
    DEFAULT_MAX_ATTEMPTS,
    ClaimedAction,
    claim_due,
    mark_preparing,
    recover_expired,
)
from journeys.store.outbox.review import retry_unknown

from .dispatch_batch import BatchRun, JourneySource, Policy, PolicyDecision, allow_all, backoff
from .dispatch_summary import DispatchSummary

# Re-exported: the dispatcher's public names, wherever they live.
__all__ = [
    "DEFAULT_LEASE",
    "Defer",
    "DispatchSummary",
    "Policy",
    "PolicyDecision",
    "Skip",
    "allow_all",
    "backoff",
    "dispatch_due",
]

log = logging.getLogger(__name__)

# A lease covers a chunk, not a batch: it is renewed at every chunk, and a crashed
# dispatcher's claims are free again this long after its last chunk.
DEFAULT_LEASE = timedelta(seconds=60)


def _default_worker() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def dispatch_due(
    engine: Engine,
    journeys: JourneyRegistry | Iterable[Journey],
    channels: Mapping[str, Channel],
    renderer: Renderer,
    now: datetime,
    *,
    batch_size: int = 200,
    lease: timedelta = DEFAULT_LEASE,
    worker: str | None = None,
    policy: Policy = allow_all,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    concurrency: int = 4,
    max_batches: int | None = None,
    clock: Callable[[], datetime] | None = None,
    pool: Executor | None = None,
) -> DispatchSummary:
    """Send every action due at `now`, batch by batch, and count what became of them.

    Each batch is claimed at `clock()`, and each of its chunks renews the lease and
    marks its sends at `clock()` again; without a clock, all at `now` (a virtual clock,
    tests). In production pass the wall clock: a lease then follows the time the work
    really takes, and a batch that outlived its lease sends nothing more.

    `pool` sends (at least `concurrency` threads); without one, the run starts its own.
    """
    if pool is None:
        # One set of sending threads for the whole run, not one per chunk.
        with ThreadPoolExecutor(concurrency, thread_name_prefix="send") as own:
            return dispatch_due(
                *(engine, journeys, channels, renderer, now),
                batch_size=batch_size,
                lease=lease,
                worker=worker,
                policy=policy,
                max_attempts=max_attempts,
                concurrency=concurrency,
                max_batches=max_batches,
                clock=clock,
                pool=own,
            )
    source = JourneySource(journeys)
    run = BatchRun(
        *(engine, source, channels, renderer, now, lease, policy, max_attempts, concurrency),
        pool,
        clock,
    )
    return _dispatch(run, engine, now, batch_size, worker, max_batches)


def _dispatch(
    run: BatchRun,
    engine: Engine,
    now: datetime,
    batch_size: int,
    worker: str | None,
    max_batches: int | None,
) -> DispatchSummary:
    max_attempts = run.max_attempts
    worker = worker or _default_worker()
    summary = run.summary
    idempotent = [k for k, c in run.channels.items() if getattr(c, "idempotent", False)]

    def recover(session: Session) -> None:
        recovered = recover_expired(session, run.tick())
        # What such a channel may or may not have taken is simply sent again: it
        # reports a message it already has instead of delivering it twice.
        retried = retry_unknown(session, idempotent, now, max_attempts=max_attempts)
        summary.recovered.update({k: n for k, n in vars(recovered).items() if n})
        if retried:
            summary.recovered["retried"] = retried

    # Suspects first, each alone (they are few, and do not count as batches): if one of
    # them is a poison message, it alone is caught in the crash it causes. Expired
    # leases are recovered in the first claim's transaction, before it claims. The claim
    # that finds no suspect takes the first batch instead, in the same transaction.
    first: Callable[[Session], None] | None = recover
    suspects = batch_size
    while True:
        limit = batch_size if max_batches is None or summary.batches < max_batches else 0
        if suspects <= 0 and limit <= 0:
            break
        claimed, alone = _claim_and_send(
            run, engine, limit, worker, suspects=suspects > 0, before=first
        )
        first = None
        if alone:
            suspects -= 1
            continue
        suspects = 0
        if not claimed:
            break
        summary.batches += 1
        if claimed < batch_size:
            break
    log.info("dispatched at %s: %s", now.isoformat(), dict(summary.outcomes))
    return summary


def _claim_and_send(
    run: BatchRun,
    engine: Engine,
    limit: int,
    worker: str,
    *,
    suspects: bool = False,
    before: Callable[[Session], None] | None = None,
) -> tuple[int, bool]:
    """Claim due actions, send them, record them: with `suspects` one caught in crashes,
    alone, if there is one, else up to `limit` others. How many were claimed, and
    whether that was a suspect alone. `before` runs first in the claim's transaction."""
    run.now = run.tick()
    with session_scope(engine) as session:
        if before is not None:
            before(session)
        claimed: list[ClaimedAction] = []
        if suspects:
            claimed = claim_due(
                session, run.now, 1, run.lease, worker, recover=False, suspects=True
            )
        alone = bool(claimed)
        if not alone:
            claimed = claim_due(session, run.now, limit, run.lease, worker, recover=False)
        windows = run.windows(claimed)
        if windows:  # in hand from here on: see `journeys.store.outbox.claims` on poison messages
            mark_preparing(session, claimed[0].claim, [a.id for a in windows[0][1]], run.now)
        run.journeys.load(session.connection(), claimed)
        # A policy that needs the store (consent, recent sends) reads it once per batch.
        load = getattr(run.policy, "load", None)
        if claimed and load is not None:
            load(session.connection(), claimed, run.journeys.get, run.now)
    if claimed:
        run.summary.claimed += len(claimed)
        run.batch(claimed)
    return len(claimed), alone
