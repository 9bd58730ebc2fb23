"""Promo codes in the store: issued with their action, unique under concurrency,
redeemed by their owner once and in time, reported per campaign."""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine

from flows.processes import clean_context
from journeys import promo
from journeys.config import definitions_dir
from journeys.decisions import ScheduledAction
from journeys.loader import load_journey
from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    advance_timers,
    apply_events,
    create_db_engine,
    process_inbox,
    session_scope,
    store_events,
)
from journeys.store.outbox.promo import (
    CampaignReport,
    PromoCodeRow,
    codes_for_actions,
    issue_codes,
    promo_report,
)
from journeys.store.state.result import BatchResult
from journeys.store.tables import customer_t

if TYPE_CHECKING:
    from conftest import Peek

MakeEvent = Callable[..., IncomingEvent]
H = timedelta(hours=1)
D = timedelta(days=1)
BODY = rf"[{promo.ALPHABET}]{{4}}(-[{promo.ALPHABET}]{{4}}){{3}}"

PROMO_JOURNEY: dict[str, Any] = {
    "journey": "promo_test",
    "version": 1,
    "name": "Promo codes",
    "stages": [
        {
            "key": "signup",
            "enter_when": {"event": "account.created"},
            "on_enter": [
                {
                    "email": "welcome",
                    "promo_code": {"discount": "10%", "valid_for": "30d", "prefix": "HELLO"},
                },
                {
                    "after": "2d",
                    "email": "nudge",
                    "promo_code": {"discount": "5 EUR", "valid_for": "7d", "campaign": "nudge"},
                },
            ],
        },
        {
            "key": "buyer",
            "enter_when": {"event": "order.completed"},
            "on_enter": [
                {
                    "promo_code": {
                        "discount": "free_shipping",
                        "valid_for": "14d",
                        "prefix": "SHIP",
                        "campaign": "shipping",
                    }
                },
                {"email": "thanks"},
            ],
        },
    ],
}


@pytest.fixture
def registry(engine: Engine) -> JourneyRegistry:
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [Journey.model_validate(PROMO_JOURNEY)])
    return registry


def apply(
    engine: Engine, registry: JourneyRegistry, events: list[IncomingEvent], now: Any = None
) -> BatchResult:
    now = now or max(e.occurred_at for e in events) + H
    with session_scope(engine) as session:
        return apply_events(session, registry, events, now)


def codes(peek: Peek) -> dict[tuple[str, str], dict[str, Any]]:
    """Promo code rows by (customer external id, action key)."""
    customers = {c["id"]: c["external_id"] for c in peek.rows("customer")}
    actions = {a["idempotency_key"]: a for a in peek.rows("action_run")}
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for row in peek.rows("promo_code"):
        action = actions[row["action_idempotency_key"]]
        key = (customers[row["customer_id"]], action["action_key"])
        assert key not in found
        found[key] = {**row, "due_at": action["due_at"], "status": action["status"]}
    return found


def signups(
    make_event: MakeEvent, customers: Any, at: timedelta = timedelta(0)
) -> list[IncomingEvent]:
    return [make_event("account.created", c, at) for c in customers]


T_ANY = datetime(2026, 1, 1, tzinfo=UTC)


def _customers(engine: Engine, names: list[str]) -> dict[str, int]:
    """Bare customers, for calling the store's promo functions directly; ids by name."""
    with session_scope(engine) as session:
        conn = session.connection()
        for name in names:
            conn.execute(
                customer_t.insert().values(
                    external_id=name, attributes={}, created_at=T_ANY, updated_at=T_ANY
                )
            )
        rows = conn.execute(customer_t.select()).all()
    return {r.external_id: r.id for r in rows}


def _action(key: str, customer: str, due: datetime, **spec: Any) -> ScheduledAction:
    """A scheduled welcome email with a promo code, as the engine would hand it over."""
    return ScheduledAction(
        key,
        "promo_test",
        1,
        customer,
        1,
        "signup",
        1,
        "welcome",
        "email",
        "welcome",
        None,
        due,
        False,
        {"promo_code": {"discount": "10%", "valid_for": "30d", **spec}},
    )


# --- issuing -------------------------------------------------------------------------------


def test_each_new_action_with_a_promo_code_gets_one(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    apply(engine, registry, [make_event("account.created", "c1")])

    issued = codes(peek)
    assert set(issued) == {("c1", "welcome"), ("c1", "nudge")}
    welcome, nudge = issued["c1", "welcome"], issued["c1", "nudge"]
    [customer] = peek.rows("customer")
    assert re.fullmatch(rf"HELLO-{BODY}", welcome["code"])
    assert re.fullmatch(BODY, nudge["code"]), "no prefix given, none used"
    assert (welcome["campaign"], nudge["campaign"]) == ("promo_test", "nudge")
    assert (welcome["discount"], nudge["discount"]) == ("10%", "5 EUR")
    # Valid from when the message is due, for `valid_for`.
    assert welcome["expires_at"] == welcome["due_at"] + 30 * D == t0 + 30 * D
    assert nudge["expires_at"] == nudge["due_at"] + 7 * D == t0 + 2 * D + 7 * D
    for row in (welcome, nudge):
        assert row["customer_id"] == customer["id"]
        assert row["redeemed_at"] is None
        assert promo.normalize_code(row["code"]) == row["code"]

    apply(engine, registry, [make_event("order.completed", "c1", H)])
    issued = codes(peek)
    assert set(issued) == {("c1", "welcome"), ("c1", "nudge"), ("c1", "promo_code")}
    ship = issued["c1", "promo_code"]
    assert re.fullmatch(rf"SHIP-{BODY}", ship["code"])
    assert (ship["campaign"], ship["discount"]) == ("shipping", "free_shipping")
    assert ship["expires_at"] == t0 + H + 14 * D
    assert peek.count("action_run") == 4, "thanks has no code"


def test_a_replayed_or_duplicate_event_issues_no_second_code(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    events = [make_event("account.created", "c1"), make_event("order.completed", "c1", H)]
    apply(engine, registry, events + events)
    before = {k: r["code"] for k, r in codes(peek).items()}
    assert len(before) == 3

    apply(engine, registry, events)  # duplicates: acknowledged, not applied
    replay = [make_event("account.created", "c1"), make_event("order.completed", "c1", H)]
    apply(engine, registry, replay)  # same moments, new ids: stale for the engine
    with session_scope(engine) as session:
        store_events(session, [make_event("order.completed", "c1", H)])
    with session_scope(engine) as session:
        process_inbox(session, registry, t0 + D)

    assert {k: r["code"] for k, r in codes(peek).items()} == before
    assert peek.count("promo_code") == 3


def test_an_action_that_has_its_code_keeps_it(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek
) -> None:
    apply(engine, registry, [make_event("account.created", "c1")])
    [customer] = peek.rows("customer")
    [action] = [a for a in peek.rows("action_run") if a["action_key"] == "welcome"]
    before = codes(peek)["c1", "welcome"]["code"]
    again = _action(action["idempotency_key"], "c1", action["due_at"], prefix="HELLO")

    with session_scope(engine) as session:
        assert issue_codes(session.connection(), [(customer["id"], again)], action["due_at"]) == 0
    assert codes(peek)["c1", "welcome"]["code"] == before
    assert peek.count("promo_code") == 2


@pytest.mark.parametrize(
    "target",
    ["journeys.store.state.ingest.write", "journeys.store.state.writer.issue_codes"],
    ids=["after the write", "while issuing"],
)
def test_codes_and_actions_are_stored_together_or_not_at_all(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: MakeEvent,
    peek: Peek,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
) -> None:
    module, name = target.rsplit(".", 1)
    original = getattr(importlib.import_module(module), name)

    def fail(*args: Any) -> None:
        original(*args)
        raise RuntimeError("the process died")

    monkeypatch.setattr(target, fail)
    with pytest.raises(RuntimeError, match="died"):
        apply(engine, registry, [make_event("account.created", "c1")])
    assert (peek.count("action_run"), peek.count("promo_code")) == (0, 0)

    monkeypatch.undo()
    apply(engine, registry, [make_event("account.created", "c1")])
    assert (peek.count("action_run"), peek.count("promo_code")) == (2, 2)


# --- collisions ----------------------------------------------------------------------------


def _draws(monkeypatch: pytest.MonkeyPatch, *forced: str) -> list[str]:
    """Record every code drawn; the first draws are `forced` instead of random."""
    original, queue, drawn = promo.generate_code, list(forced), []

    def draw(prefix: str | None = None) -> str:
        code = queue.pop(0) if queue else original(prefix)
        drawn.append(code)
        return code

    monkeypatch.setattr(promo, "generate_code", draw)
    return drawn


def test_a_code_that_is_taken_is_drawn_again(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: MakeEvent,
    peek: Peek,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    apply(engine, registry, [make_event("account.created", "c0")])
    taken = codes(peek)["c0", "welcome"]["code"]

    drawn = _draws(monkeypatch, taken)
    apply(engine, registry, [make_event("account.created", "c1")])

    assert len(drawn) == 3, "welcome collided once, nudge landed at once"
    issued = codes(peek)
    assert issued["c0", "welcome"]["code"] == taken
    assert issued["c1", "welcome"]["code"] not in (taken, issued["c1", "nudge"]["code"])
    assert issued["c1", "welcome"]["code"] == drawn[2]


def test_two_rows_of_one_batch_that_draw_the_same_code_both_land(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: MakeEvent,
    peek: Peek,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = _draws(monkeypatch, "TWIN-3333-3333-3333-3333", "TWIN-3333-3333-3333-3333")
    apply(engine, registry, [make_event("account.created", "c1")])

    assert len(drawn) == 3
    assert len({r["code"] for r in codes(peek).values()}) == 2


def _tiny_alphabet(monkeypatch: pytest.MonkeyPatch, length: int) -> list[str]:
    monkeypatch.setattr(promo, "ALPHABET", "CF")
    monkeypatch.setattr(promo, "LENGTH", length)
    return _draws(monkeypatch)


def test_a_tiny_alphabet_forces_collisions_and_every_code_still_lands(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: MakeEvent,
    peek: Peek,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    drawn = _tiny_alphabet(monkeypatch, 12)  # 4096 codes
    customers = [f"c{i}" for i in range(1400)]
    for start in range(0, len(customers), 200):
        apply(engine, registry, signups(make_event, customers[start : start + 200]))

    issued = codes(peek)
    assert len(issued) == 2800
    all_codes = [r["code"] for r in issued.values()]
    assert len(set(all_codes)) == 2800
    assert all(re.fullmatch(r"([A-Z]+-)?[CF]{4}-[CF]{4}-[CF]{4}", c) for c in all_codes)
    assert len(drawn) > 3000, f"only {len(drawn) - 2800} redraws: the space was not tight"


# --- concurrency ---------------------------------------------------------------------------


def _signup_batches(prefix: str, batches: int, size: int) -> Iterator[list[IncomingEvent]]:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    for b in range(batches):
        yield [
            IncomingEvent(
                source=prefix,
                external_id=f"{b}-{i}",
                type="account.created",
                customer_id=f"{prefix}-{b}-{i}",
                occurred_at=at,
            )
            for i in range(size)
        ]


def _assert_all_landed(peek: Peek, expected: int) -> None:
    rows = peek.rows("promo_code")
    assert len(rows) == expected
    assert len({r["code"] for r in rows}) == expected
    assert len({r["action_idempotency_key"] for r in rows}) == expected
    assert peek.count("action_run") == expected


@pytest.mark.parametrize("alphabet", ["real", "tiny"])
def test_codes_stay_unique_across_threads(
    engine: Engine,
    registry: JourneyRegistry,
    peek: Peek,
    monkeypatch: pytest.MonkeyPatch,
    alphabet: str,
) -> None:
    threads, batches, size = 4, 4, 125
    if alphabet == "tiny":
        drawn = _tiny_alphabet(monkeypatch, 13)  # 8192 codes for 4000
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            for events in _signup_batches(name, batches, size):
                apply(engine, registry, events)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    running = [threading.Thread(target=worker, args=(f"t{n}",)) for n in range(threads)]
    for t in running:
        t.start()
    for t in running:
        t.join()
    assert errors == []
    _assert_all_landed(peek, threads * batches * size * 2)
    if alphabet == "tiny":
        assert len(drawn) > threads * batches * size * 2


def _issue_in_process(url: str, name: str, batches: int, size: int) -> None:
    engine = create_db_engine(url)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [Journey.model_validate(PROMO_JOURNEY)])
    for events in _signup_batches(name, batches, size):
        apply(engine, registry, events)
    engine.dispose()


def test_codes_stay_unique_across_processes(
    engine: Engine, registry: JourneyRegistry, db_url: str, peek: Peek
) -> None:
    processes, batches, size = 3, 4, 125
    # Not a fork of this process: earlier tests in the same run may have left threads
    # behind (Prefect's), and a forked child inherits their locks held. The fork server
    # is a clean process that has imported the store already.
    context = clean_context()
    running = [
        context.Process(target=_issue_in_process, args=(db_url, f"p{n}", batches, size))
        for n in range(processes)
    ]
    for p in running:
        p.start()
    for p in running:
        p.join(timeout=120)
    assert [p.exitcode for p in running] == [0] * processes
    _assert_all_landed(peek, processes * batches * size * 2)


def test_a_deadlock_between_two_redraws_costs_a_round_not_the_batch(
    engine: Engine, db_url: str, peek: Peek, monkeypatch: pytest.MonkeyPatch, t0: datetime
) -> None:
    """Two PostgreSQL transactions redraw into each other's fresh codes, crosswise.

    The victim of the deadlock rolls back only that round and draws again; both
    batches commit. (SQLite has one writer at a time: there is nothing to cross.)
    """
    if engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL runs two writers at once")
    customers = _customers(engine, ["left", "right"])
    taken = "TAKEN-3333-3333-3333-3333"
    monkeypatch.setattr(promo, "generate_code", lambda prefix=None: taken)
    with session_scope(engine) as session:
        issue_codes(session.connection(), [(customers["left"], _action("x", "left", t0))], t0)
    monkeypatch.undo()

    # left draws A, TAKEN, then B; right draws B, TAKEN, then A: the second rounds cross.
    a, b = "CROSS-3333-3333-3333-7777", "CROSS-3333-3333-3333-9999"
    plans = {"left": [a, taken, b], "right": [b, taken, a]}
    both_drew_once = threading.Barrier(2, timeout=30)
    original = promo.generate_code

    def draw(prefix: str | None = None) -> str:
        plan = plans[threading.current_thread().name]
        if len(plan) == 1:
            both_drew_once.wait()  # both hold their first code, uncommitted
        return plan.pop(0) if plan else original(prefix)

    monkeypatch.setattr(promo, "generate_code", draw)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            with session_scope(engine) as session:
                actions = [(customers[name], _action(f"{name}{i}", name, t0)) for i in (1, 2)]
                assert issue_codes(session.connection(), actions, t0) == 2
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    running = [threading.Thread(target=worker, args=(n,), name=n) for n in plans]
    for t in running:
        t.start()
    for t in running:
        t.join(timeout=60)
    assert errors == []
    rows = peek.rows("promo_code")
    assert len(rows) == 5 and len({r["code"] for r in rows}) == 5


# --- redeeming -----------------------------------------------------------------------------


def _signed_up(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, *who: str
) -> dict[str, str]:
    """Customers sign up at t0; their welcome codes (HELLO-…, valid 30 days) by customer."""
    apply(engine, registry, signups(make_event, who))
    return {c: r["code"] for (c, key), r in codes(peek).items() if key == "welcome"}


def _redeemed(peek: Peek) -> dict[str, datetime | None]:
    return {r["code"]: r["redeemed_at"] for r in peek.rows("promo_code")}


def test_the_owner_redeems_a_code_as_typed(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    code = _signed_up(engine, registry, make_event, peek, "c1")["c1"]
    typed = code.lower().replace("-", " ")

    apply(engine, registry, [make_event("order.completed", "c1", 5 * D, promo_code=typed)])

    assert _redeemed(peek)[code] == t0 + 5 * D
    assert sum(1 for at in _redeemed(peek).values() if at is not None) == 1


def test_a_code_is_redeemed_by_any_event_that_carries_it(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    code = _signed_up(engine, registry, make_event, peek, "c1")["c1"]
    with session_scope(engine) as session:
        store_events(session, [make_event("pos.sale", "c1", 2 * D, promo_code=code)])
    with session_scope(engine) as session:
        process_inbox(session, registry, t0 + 3 * D)

    assert _redeemed(peek)[code] == t0 + 2 * D


def test_another_customer_cannot_redeem_it(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    issued = _signed_up(engine, registry, make_event, peek, "c1", "c2")

    apply(engine, registry, [make_event("order.completed", "c2", D, promo_code=issued["c1"])])
    assert _redeemed(peek)[issued["c1"]] is None

    apply(engine, registry, [make_event("order.completed", "c1", 2 * D, promo_code=issued["c1"])])
    assert _redeemed(peek)[issued["c1"]] == t0 + 2 * D


@pytest.mark.parametrize(
    ("at", "redeemed"),
    [(30 * D - timedelta(seconds=1), True), (30 * D, False), (31 * D, False)],
    ids=["last-second", "at-expiry", "after"],
)
def test_an_expired_code_is_not_redeemed(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: MakeEvent,
    peek: Peek,
    t0: datetime,
    at: timedelta,
    redeemed: bool,
) -> None:
    code = _signed_up(engine, registry, make_event, peek, "c1")["c1"]
    apply(engine, registry, [make_event("order.completed", "c1", at, promo_code=code)])
    assert _redeemed(peek)[code] == (t0 + at if redeemed else None)


def test_a_code_is_redeemed_once(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    code = _signed_up(engine, registry, make_event, peek, "c1")["c1"]
    # Two uses in one batch, given out of order: the earlier one counts.
    apply(
        engine,
        registry,
        [
            make_event("order.completed", "c1", 3 * D, promo_code=code),
            make_event("order.completed", "c1", 2 * D, promo_code=code),
        ],
    )
    assert _redeemed(peek)[code] == t0 + 2 * D

    apply(engine, registry, [make_event("order.completed", "c1", 4 * D, promo_code=code)])
    assert _redeemed(peek)[code] == t0 + 2 * D


@pytest.mark.parametrize("typed", ["", "HELLO", "NOPE-3333-3333-3333-3333", "x" * 300, 42, None])
def test_a_wrong_code_changes_nothing_and_fails_nothing(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: MakeEvent,
    peek: Peek,
    typed: Any,
) -> None:
    _signed_up(engine, registry, make_event, peek, "c1")
    result = apply(engine, registry, [make_event("order.completed", "c1", D, promo_code=typed)])
    assert result.events == 1
    assert set(_redeemed(peek).values()) == {None}


# --- reading -------------------------------------------------------------------------------


def test_the_report_counts_per_campaign(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    issued = _signed_up(engine, registry, make_event, peek, "c1", "c2", "c3", "c4")
    # c1 orders within the hour with its code: its 2-day nudge is voided, never sent.
    apply(engine, registry, [make_event("order.completed", "c1", H, promo_code=issued["c1"])])
    # c2 orders on day 3 with its code: the nudge had gone out the day before.
    apply(engine, registry, [make_event("order.completed", "c2", 3 * D, promo_code=issued["c2"])])

    def report(days: int, campaign: str | None = None) -> list[CampaignReport]:
        with session_scope(engine, readonly=True) as session:
            return promo_report(session, campaign, now=t0 + days * D)

    assert report(1) == [
        CampaignReport("promo_test", 4, 1, 0, 0.25),
        CampaignReport("shipping", 1, 0, 0, 0.0),
    ]
    assert report(31) == [
        CampaignReport("nudge", 3, 0, 3, 0.0),
        CampaignReport("promo_test", 4, 2, 2, 0.5),
        CampaignReport("shipping", 2, 0, 2, 0.0),
    ]
    assert report(31, "promo_test") == [CampaignReport("promo_test", 4, 2, 2, 0.5)]
    assert report(31, "unknown") == []


def test_the_renderer_finds_the_code_of_each_action(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    apply(engine, registry, [make_event("account.created", "c1")])
    apply(engine, registry, [make_event("order.completed", "c1", 3 * D)])
    actions = {a["action_key"]: a["idempotency_key"] for a in peek.rows("action_run")}
    issued = codes(peek)

    with session_scope(engine, readonly=True) as session:
        found = codes_for_actions(session.connection(), [*actions.values(), "no-such-action"])

    assert set(found) == {actions["welcome"], actions["nudge"], actions["promo_code"]}
    welcome = issued["c1", "welcome"]
    assert found[actions["welcome"]] == PromoCodeRow(
        welcome["code"], "10%", t0 + 30 * D, "promo_test"
    )
    assert found[actions["nudge"]].expires_at == t0 + 9 * D
    with session_scope(engine, readonly=True) as session:
        assert codes_for_actions(session.connection(), []) == {}


# --- a shipped journey ---------------------------------------------------------------------


def test_the_lifecycle_review_request_carries_its_code(
    engine: Engine, make_event: MakeEvent, peek: Peek, t0: datetime
) -> None:
    lifecycle = load_journey(definitions_dir() / "customer_lifecycle.yaml")
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [lifecycle])
    delivered = t0 + 2 * D
    apply(
        engine,
        registry,
        [
            make_event("order.completed", "c1", 0 * D, total=80),
            make_event("order.delivered", "c1", delivered),
        ],
    )
    assert peek.count("promo_code") == 0

    with session_scope(engine) as session:
        advance_timers(session, registry, delivered + 3 * D - H)
    assert peek.count("promo_code") == 0, "not in evaluation before 3 days"
    with session_scope(engine) as session:
        assert advance_timers(session, registry, delivered + 3 * D).timers == 1

    [review] = [a for a in peek.rows("action_run") if a["action_key"] == "review_request"]
    assert (review["stage"], review["due_at"]) == ("evaluation", delivered + 3 * D)
    [row] = peek.rows("promo_code")
    [customer] = peek.rows("customer")
    assert row["action_idempotency_key"] == review["idempotency_key"]
    assert row["customer_id"] == customer["id"]
    assert re.fullmatch(rf"DANKE-{BODY}", row["code"])
    assert (row["discount"], row["campaign"]) == ("10%", "review_thanks")
    assert row["expires_at"] == review["due_at"] + 30 * D
    with session_scope(engine, readonly=True) as session:
        [found] = codes_for_actions(session.connection(), [review["idempotency_key"]]).values()
    assert found == PromoCodeRow(row["code"], "10%", delivered + 33 * D, "review_thanks")
