"""The outbox, store side: claims, leases, the send-started mark and outcomes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, update

from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    PromoCode,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.outbox.claims import (
    ISOLATED_CRASHES,
    LOST_SEND,
    QUARANTINED,
    SUSPECT_CRASHES,
    ActionOutcome,
    ClaimedAction,
    claim_due,
    claim_params,
    claim_statement,
    mark_preparing,
    mark_send_started,
    recover_expired,
    renew_lease,
)
from journeys.store.outbox.outcomes import record_outcomes
from journeys.store.outbox.review import (
    RETRIED_UNKNOWN,
    held_actions,
    outbox_summary,
    release_actions,
    retry_unknown,
)
from journeys.store.tables import action_run_t

if TYPE_CHECKING:
    from conftest import Peek

MakeEvent = Callable[..., IncomingEvent]
M = timedelta(minutes=1)
LEASE = 5 * M


def signups(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, n: int, **data: Any
) -> datetime:
    """`n` customers sign up a minute apart: a welcome email each, due at once (and a
    nudge two days later). Returns the time of the last signup."""
    events = [
        make_event(
            "account.created",
            f"c{i:03d}",
            i * M,
            profile={"email": f"c{i}@example.com", "first_name": f"Kim{i}", "locale": "de-AT"},
            **data,
        )
        for i in range(n)
    ]
    last = max(e.occurred_at for e in events)
    with session_scope(engine) as session:
        apply_events(session, registry, events, last)
    return last


def claim(engine: Engine, now: datetime, limit: int = 100, **kw: Any) -> list[ClaimedAction]:
    with session_scope(engine) as session:
        return claim_due(session, now, limit, kw.pop("lease", LEASE), "test-worker", **kw)


def record(engine: Engine, now: datetime, *outcomes: ActionOutcome) -> Any:
    with session_scope(engine) as session:
        return record_outcomes(session, outcomes, now)


def mark(engine: Engine, now: datetime, *actions: ClaimedAction) -> set[int]:
    with session_scope(engine) as session:
        return mark_send_started(session, actions, now, LEASE)


def row(peek: Peek, action_id: int) -> dict[str, Any]:
    return next(r for r in peek.rows("action_run") if r["id"] == action_id)


# --- claiming ------------------------------------------------------------------------------


def test_a_claim_takes_the_oldest_due_actions_and_leases_them(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    now = signups(engine, registry, make_event, 5, plan="pro")

    claimed = claim(engine, now, limit=3)

    assert [a.customer.external_id for a in claimed] == ["c000", "c001", "c002"]
    first = claimed[0]
    assert (first.journey, first.version, first.stage, first.kind) == (
        "onboarding",
        1,
        "signup",
        "email",
    )
    # A claim is no attempt: only a send that starts counts one.
    assert (first.template, first.action_key, first.attempts) == ("welcome", "welcome", 0)
    assert first.due_at == t0 and first.lease_expires_at == now + LEASE
    assert first.customer.email == "c0@example.com" and first.customer.first_name == "Kim0"
    assert first.customer.locale == "de-AT" and first.marketing
    assert first.claim.startswith("test-worker/") and len({a.claim for a in claimed}) == 1
    assert first.promo is None
    # The event that started the stage entry comes along, for templates that quote it.
    assert first.event is not None
    assert first.event["type"] == "account.created" and first.event["data"] == {"plan": "pro"}
    stored = row(peek, first.id)
    assert (stored["status"], stored["attempts"], stored["claimed_by"]) == (
        "claimed",
        0,
        first.claim,
    )
    # The rest of the due ones next; the nudges are not due for two days.
    assert [a.customer.external_id for a in claim(engine, now)] == ["c003", "c004"]
    assert claim(engine, now + LEASE - M) == []
    # Three days on: the five leases have long expired, and the nudges are due.
    later = claim(engine, now + timedelta(days=3))
    assert sorted(a.template or "" for a in later) == ["nudge"] * 5 + ["welcome"] * 5


def test_a_claim_brings_the_promo_code_issued_for_the_action(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, t0: datetime
) -> None:
    now = signups(engine, registry, make_event, 2)
    with session_scope(engine) as session:
        key = (
            session.connection()
            .execute(action_run_t.select().where(action_run_t.c.template == "welcome"))
            .first()
        )
        assert key is not None
        session.add(
            PromoCode(
                code="HELLO-7KQ2",
                customer_id=key.customer_id,
                discount="10%",
                expires_at=t0 + timedelta(days=30),
                action_idempotency_key=key.idempotency_key,
            )
        )

    with_code, without = sorted(claim(engine, now), key=lambda a: a.promo is None)

    assert with_code.promo is not None and without.promo is None
    assert (with_code.promo.code, with_code.promo.discount) == ("HELLO-7KQ2", "10%")
    assert with_code.promo.expires_at == t0 + timedelta(days=30)


def test_concurrent_claimers_never_get_the_same_action(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent
) -> None:
    now = signups(engine, registry, make_event, 60)
    start = threading.Barrier(4)
    taken: list[list[int]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            start.wait()
            while batch := claim(engine, now, limit=7):
                taken[n].extend(a.id for a in batch)
                time.sleep(0.01)  # sending, outside the transaction: the others claim
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    every = [id for ids in taken for id in ids]
    assert len(every) == len(set(every)) == 60
    assert sum(1 for ids in taken if ids) >= 2  # they did run side by side


def test_the_sqlite_claim_reads_the_status_due_at_index(tmp_path: Path, t0: datetime) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    create_schema(engine)
    statement = claim_statement()
    with engine.connect() as conn:
        compiled = statement.compile(dialect=conn.dialect)
        bound = compiled.construct_params(claim_params(t0, 200, LEASE, "w/1"))
        params = [bound[name] for name in compiled.positiontup or ()]
        params = [p.isoformat(" ") if isinstance(p, datetime) else p for p in params]
        plan = [r[3] for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {compiled}", tuple(params))]
    engine.dispose()
    assert any(
        "USING COVERING INDEX ix_action_run_status_due_at_crashes" in step for step in plan
    ), plan
    assert not any(step.startswith("SCAN") for step in plan), plan
    assert not any("TEMP B-TREE" in step for step in plan), plan  # the index gives the order


# --- leases and crash safety ---------------------------------------------------------------


def test_an_expired_lease_before_the_send_started_is_claimed_again_and_sent_once(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    [crashed] = claim(engine, now)  # the dispatcher dies before it marks the send
    assert claim(engine, now + LEASE - M) == []  # the lease still holds

    [again] = claim(engine, now + LEASE)

    # The crash cost it time, not an attempt (nor a crash: it was not in hand).
    assert again.id == crashed.id and again.claim != crashed.claim and again.attempts == 0
    assert row(peek, again.id)["crashes"] == 0
    assert mark(engine, now + LEASE, again) == {again.id}
    done = record(engine, now + LEASE, ActionOutcome.of(again, "sent", provider_message_id="m-1"))
    assert done.written == {"sent": 1} and done.stale == []
    # The first claim comes back to life: too late, its outcome is refused.
    late = record(engine, now + LEASE, ActionOutcome.of(crashed, "sent", provider_message_id="m-0"))
    assert late.written == {} and late.stale == [crashed.id]
    stored = row(peek, crashed.id)
    assert (stored["status"], stored["provider_message_id"], stored["attempts"]) == (
        "sent",
        "m-1",
        1,
    )
    assert claim(engine, now + timedelta(days=1)) == []


def test_an_expired_lease_after_the_send_started_is_unknown_and_never_resent(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    [action] = claim(engine, now)
    assert mark(engine, now + M, action) == {action.id}  # the request leaves, then a crash

    assert claim(engine, now + M + LEASE) == []

    stored = row(peek, action.id)
    assert (stored["status"], stored["last_error"]) == ("unknown", LOST_SEND)
    later = [a.id for a in claim(engine, now + timedelta(days=30))]
    assert action.id not in later  # the nudge is due by then; the welcome never again
    # Nobody else may settle it, and nothing may make it pending again...
    other = ActionOutcome(action.id, "someone/else", "sent", provider_message_id="x")
    retry = ActionOutcome.of(action, "retry", due_at=now + timedelta(days=31))
    assert record(engine, now, other, retry).stale == [action.id]
    # ...but its own dispatcher, answering late, still tells what really happened.
    answer = record(engine, now, ActionOutcome.of(action, "sent", provider_message_id="m-9"))
    assert answer.written == {"sent": 1}
    stored = row(peek, action.id)
    assert (stored["status"], stored["provider_message_id"]) == ("sent", "m-9")


def test_a_send_is_marked_only_while_the_claim_holds(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent
) -> None:
    now = signups(engine, registry, make_event, 2)
    first, second = claim(engine, now)

    # Expired, not yet taken over: sending now could race a recovery, so no mark.
    assert mark(engine, now + LEASE, first) == set()
    [retaken] = [a for a in claim(engine, now + LEASE) if a.id == second.id]
    assert mark(engine, now + LEASE, second) == set()  # the old claim lost it
    assert mark(engine, now + LEASE, retaken) == {second.id}


def test_the_lease_is_renewed_when_the_send_starts(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    [action] = claim(engine, now)
    mark(engine, now + 4 * M, action)
    assert row(peek, action.id)["lease_expires_at"] == now + 4 * M + LEASE
    assert claim(engine, now + LEASE + M) == []  # nothing expired, nothing reclaimed
    assert row(peek, action.id)["status"] == "claimed"


def test_dispatchers_dying_with_an_action_in_their_batch_never_fail_it(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 3)
    t = now
    # Dispatchers die over and over with all three waiting in their batch: time lost,
    # nothing else (no attempt, no crash), however often.
    for _ in range(10):
        assert len(claim(engine, t)) == 3
        t += LEASE
    welcome = [r for r in peek.rows("action_run") if r["template"] == "welcome"]
    assert {(r["status"], r["attempts"], r["crashes"]) for r in welcome} == {("claimed", 0, 0)}
    # One dies while it prepares the first of them: only that one counts a crash...
    first, *rest = claim(engine, t)
    with session_scope(engine) as session:
        mark_preparing(session, first.claim, [first.id], t)
    t += LEASE
    assert {a.id for a in claim(engine, t)} == {a.id for a in rest}  # ...and waits aside
    assert (row(peek, first.id)["crashes"], row(peek, rest[0].id)["crashes"]) == (1, 0)
    # A suspect is claimed alone, in hand from the claim on, and sent like any other.
    [alone] = claim(engine, t, suspects=True)
    assert alone.id == first.id and row(peek, first.id)["preparing_since"] == t
    assert claim(engine, t, suspects=True) == []
    assert mark(engine, t, alone) == {alone.id}
    record(engine, t, ActionOutcome.of(alone, "sent", provider_message_id="p-1"))
    assert (row(peek, first.id)["status"], row(peek, first.id)["attempts"]) == ("sent", 1)


def test_an_action_that_keeps_crashing_dispatchers_alone_is_quarantined_and_reported(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    with engine.begin() as conn:  # a dispatcher died while it prepared it with others
        conn.execute(update(action_run_t).values(crashes=SUSPECT_CRASHES))
    t = now
    for crash in range(ISOLATED_CRASHES):
        assert claim(engine, t) == []  # never in a batch
        [alone] = claim(engine, t, suspects=True)
        t += LEASE  # the dispatcher holding it alone dies before the send
        if crash < ISOLATED_CRASHES - 1:
            assert row(peek, alone.id)["status"] == "claimed"
    with session_scope(engine) as session:
        recovered = recover_expired(session, t)
    assert (recovered.quarantined, recovered.pending) == (1, 0)
    stored = row(peek, alone.id)
    assert (stored["status"], stored["attempts"], stored["last_error"]) == (
        "quarantined",
        0,
        QUARANTINED,
    )
    assert claim(engine, t + timedelta(days=1), suspects=True) == []
    with session_scope(engine, readonly=True) as session:
        [held] = held_actions(session, "quarantined")
    assert (held.id, held.customer) == (alone.id, "c000")
    assert held.crashes == SUSPECT_CRASHES + ISOLATED_CRASHES


def test_a_release_is_recorded_and_makes_held_actions_pending_again(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 3)
    lost, quarantined, sent = claim(engine, now)
    mark(engine, now, lost)
    record(engine, now, ActionOutcome.of(sent, "sent", provider_message_id="p"))
    with engine.begin() as conn:
        conn.execute(
            update(action_run_t)
            .where(action_run_t.c.id == quarantined.id)
            .values(status="quarantined", last_error=QUARANTINED)
        )
    t = now + LEASE
    claim(engine, t)  # the lease of `lost` expired after its send started: unknown
    with session_scope(engine, readonly=True) as session:
        assert [h.id for h in held_actions(session, "unknown", before=t)] == [lost.id]
        assert held_actions(session, "unknown", before=now - M) == []

    with session_scope(engine) as session:
        released = release_actions(
            session,
            [lost.id, quarantined.id, sent.id],
            operator="ops@example.com",
            reason="SendGrid activity shows no delivery",
            now=t,
        )

    assert released == sorted([lost.id, quarantined.id])  # a sent action is not held
    for id in released:
        stored = row(peek, id)
        assert (stored["status"], stored["due_at"], stored["crashes"]) == ("pending", t, 0)
        assert stored["last_error"].startswith("released by ops@example.com")
    log = {r["action_run_id"]: r for r in peek.rows("action_release")}
    assert set(log) == set(released)
    assert (log[lost.id]["from_status"], log[lost.id]["last_error"]) == ("unknown", LOST_SEND)
    assert log[quarantined.id]["operator"] == "ops@example.com"
    assert row(peek, sent.id)["status"] == "sent"
    assert {a.id for a in claim(engine, t)} >= set(released)
    with pytest.raises(ValueError, match="reason"), session_scope(engine) as session:
        release_actions(session, [lost.id], operator="ops", reason=" ", now=t)


def test_a_renewed_lease_keeps_a_long_batch_and_a_lost_one_is_not_renewed(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 2)
    first, second = claim(engine, now)
    with session_scope(engine) as session:
        assert renew_lease(session, first.claim, now + LEASE - M, LEASE) == 2
    assert claim(engine, now + LEASE + M) == []  # still held: renewed
    assert row(peek, second.id)["lease_expires_at"] == now + 2 * LEASE - M
    # Past the renewed lease without a word: nothing is renewed any more...
    late = now + 2 * LEASE
    with session_scope(engine) as session:
        assert renew_lease(session, first.claim, late, LEASE) == 0
    # ...and the next claim takes both over; the old claim marks nothing.
    assert {a.id for a in claim(engine, late)} == {first.id, second.id}
    assert mark(engine, late, first, second) == set()


# --- outcomes ------------------------------------------------------------------------------


def test_outcomes_are_written_in_bulk(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 4)
    sent, failed, skipped, unknown = claim(engine, now)

    result = record(
        engine,
        now + M,
        ActionOutcome.of(sent, "sent", provider_message_id="sg-1"),
        ActionOutcome.of(failed, "failed", reason="no email address"),
        ActionOutcome.of(skipped, "skipped", reason="holdout"),
        ActionOutcome.of(unknown, "unknown", reason="read timeout"),
    )

    assert result.written == {"sent": 1, "failed": 1, "skipped": 1, "unknown": 1}
    rows = {r["id"]: r for r in peek.rows("action_run")}
    assert (rows[sent.id]["status"], rows[sent.id]["provider_message_id"]) == ("sent", "sg-1")
    assert (rows[failed.id]["status"], rows[failed.id]["last_error"]) == (
        "failed",
        "no email address",
    )
    assert (rows[skipped.id]["status"], rows[skipped.id]["last_error"]) == ("skipped", "holdout")
    assert rows[unknown.id]["status"] == "unknown"
    assert all(rows[a.id]["updated_at"] == now + M for a in (sent, failed, skipped, unknown))
    assert all(rows[a.id]["lease_expires_at"] is None for a in (sent, failed, skipped, unknown))


def test_a_deferred_action_is_pending_again_from_its_new_time(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    [action] = claim(engine, now)
    until = now + timedelta(hours=9)  # the end of the quiet hours

    assert record(
        engine, now, ActionOutcome.of(action, "deferred", reason="quiet hours", due_at=until)
    ).written == {"deferred": 1}

    stored = row(peek, action.id)
    assert (stored["status"], stored["due_at"], stored["attempts"]) == ("pending", until, 0)
    assert (stored["lease_expires_at"], stored["claimed_by"]) == (None, None)
    assert claim(engine, until - M) == []
    [again] = claim(engine, until)
    assert again.id == action.id and again.attempts == 0  # a deferral is no attempt


def test_a_retry_is_pending_again_after_the_backoff_and_keeps_its_attempt(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    [action] = claim(engine, now)
    mark(engine, now, action)

    record(engine, now, ActionOutcome.of(action, "retry", reason="HTTP 503", due_at=now + 2 * M))

    stored = row(peek, action.id)
    assert (stored["status"], stored["attempts"], stored["send_started_at"]) == ("pending", 1, None)
    assert stored["last_error"] == "HTTP 503"
    assert claim(engine, now + M) == []
    [again] = claim(engine, now + 2 * M)
    assert again.attempts == 1


def test_a_retry_without_a_send_counts_an_attempt(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    [action] = claim(engine, now)  # the send rules raised: no send started

    record(engine, now, ActionOutcome.of(action, "retry", reason="policy", due_at=now + M))

    assert row(peek, action.id)["attempts"] == 1


def test_outcomes_reach_only_actions_the_claim_still_holds(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 2)
    mine, stolen = claim(engine, now)
    with engine.begin() as conn:  # another dispatcher took this one over
        conn.execute(
            update(action_run_t).where(action_run_t.c.id == stolen.id).values(claimed_by="b/1")
        )

    result = record(
        engine,
        now,
        ActionOutcome.of(mine, "sent", provider_message_id="a"),
        ActionOutcome.of(stolen, "failed", reason="mine, I thought"),
    )

    assert result.written == {"sent": 1} and result.stale == [stolen.id]
    assert row(peek, stolen.id)["status"] == "claimed"
    # An outcome once final stays so: a second answer for the same claim is refused.
    assert record(engine, now, ActionOutcome.of(mine, "failed", reason="x")).stale == [mine.id]


def test_an_outcome_that_postpones_needs_a_time() -> None:
    with pytest.raises(ValueError, match="due_at"):
        ActionOutcome(1, "c/1", "retry")
    with pytest.raises(ValueError, match="unknown outcome"):
        ActionOutcome(1, "c/1", "bounced")  # type: ignore[arg-type]


def test_the_summary_counts_per_journey_kind_and_status(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent
) -> None:
    now = signups(engine, registry, make_event, 3)
    first, *_ = claim(engine, now)
    record(engine, now, ActionOutcome.of(first, "sent", provider_message_id="p"))

    with session_scope(engine, readonly=True) as session:
        summary = outbox_summary(session)

    assert [tuple(r) for r in summary] == [
        ("onboarding", "email", "claimed", 2),
        ("onboarding", "email", "pending", 3),
        ("onboarding", "email", "sent", 1),
    ]


def test_unknown_actions_of_an_idempotent_channel_are_sent_again_a_few_times(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    now = signups(engine, registry, make_event, 1)
    [action] = claim(engine, now)
    t = now
    for attempt in range(1, 4):
        assert action.attempts == attempt - 1  # sends before this one
        assert mark(engine, t, action) == {action.id}  # sent, then the process dies
        t += LEASE
        assert claim(engine, t) == []  # unknown, by itself never resent
        with session_scope(engine) as session:
            assert retry_unknown(session, ["sms"], t) == 0  # not for other kinds
            assert retry_unknown(session, ["email"], t, max_attempts=3) == (attempt < 3)
        stored = row(peek, action.id)
        if attempt < 3:
            assert (stored["status"], stored["last_error"]) == ("pending", RETRIED_UNKNOWN)
            [action] = claim(engine, t)
    # The third attempt ended unknown too: it stays so.
    assert (row(peek, action.id)["status"], row(peek, action.id)["attempts"]) == ("unknown", 3)
