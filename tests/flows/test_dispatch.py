"""Dispatch: due actions through rendering and the channels, once each, whatever fails."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event

from channels import OutboundMessage, OutboxChannel, RetryableSendError, SendResult
from channels.links import LinkSigner
from channels.outbox import INDEX_DIR
from channels.render import Renderer
from channels.render_settings import RenderSettings
from channels.settings import ChannelSettings
from flows.demo import DemoReport, run_demo
from flows.dispatch import Defer, Skip, allow_all, dispatch_due
from flows.sample_data import SAMPLE_PATH
from flows.sample_people import SAMPLE_CONSENT, SAMPLE_CUSTOMERS
from journeys import load_journeys
from journeys.config import templates_dir
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.store.outbox.claims import ClaimedAction

SIGNER = LinkSigner("dispatch-test-secret-0123456789", "https://shop.example")


# --- the demo's path, on a sample of its personas ------------------------------------------


@dataclass
class Demo:
    report: DemoReport
    db: sqlite3.Connection
    outbox: Path
    end: datetime  # the last moment dispatched


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("demo")
    # Every 15th persona (one with a holdout among them): all the journeys, review
    # requests, SMS and webhooks, in a tenth of the full demo's time.
    lines = SAMPLE_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    sample = [line for line in lines if int(json.loads(line)["customer_id"][-3:]) % 15 == 13]
    events = root / "events.jsonl"
    events.write_text("".join(sample), encoding="utf-8")
    # All the shipped journeys, not the demo's set: more kinds of message per persona.
    # The sample's customers and consent as the demo imports them: the send rules decide.
    report = run_demo(
        root / "demo.db",
        events,
        outbox=root / "outbox",
        journeys=load_journeys(),
        customers=SAMPLE_CUSTOMERS,
        consent=SAMPLE_CONSENT,
        html=False,
    )
    first = min(datetime.fromisoformat(json.loads(line)["occurred_at"]) for line in sample)
    midnight = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    end = midnight + timedelta(days=report.days) - timedelta(microseconds=1)
    db = sqlite3.connect(root / "demo.db")
    db.row_factory = sqlite3.Row
    yield Demo(report, db, root / "outbox", end)
    db.close()


def _outbox_entries(outbox: Path) -> list[dict[str, Any]]:
    metas = [
        p
        for p in outbox.glob("*/*.json")
        if p.parent.name != INDEX_DIR and not p.name.endswith(".webhook.json")
    ]
    return [json.loads(p.read_text(encoding="utf-8")) | {"_path": p} for p in metas]


def _stamp(value: datetime) -> str:
    return value.isoformat(" ", "microseconds")[:26]


def test_every_due_action_is_sent_exactly_once(demo: Demo) -> None:
    rows = demo.db.execute(
        "select idempotency_key, kind, status, last_error, provider_message_id from action_run "
        "where due_at <= ?",
        (_stamp(demo.end),),
    ).fetchall()
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) <= {"sent", "skipped"}, statuses
    skipped = {r["last_error"] for r in rows if r["status"] == "skipped"}
    # Besides holdouts and actions voided by a move on: a message another journey sent
    # for the same event (the shipped journeys overlap; the customer gets it once).
    skipped = {"once" if "for the same event" in why else why for why in skipped}
    # And marketing the sample's consent does not allow (the send rules are on).
    allowed = {"holdout", "left the stage before it was due", "once", "no consent", "unsubscribed"}
    assert skipped <= allowed
    assert "holdout" in skipped  # the referral test's control group got nothing
    assert "no consent" in skipped  # some of the sample's customers were never asked
    unconsented = demo.db.execute(
        "select a.kind, c.status from action_run a left join consent c "
        "on c.customer_id = a.customer_id and c.channel = a.kind "
        "where a.status = 'skipped' and a.last_error = 'no consent'"
    ).fetchall()
    assert unconsented and all(r["status"] != "subscribed" for r in unconsented)

    entries = _outbox_entries(demo.outbox)
    per_key = Counter(e["idempotency_key"] for e in entries)
    assert set(per_key.values()) == {1}
    sent = {r["idempotency_key"]: r for r in rows if r["status"] == "sent"}
    assert set(per_key) == set(sent)
    for entry in entries:
        assert sent[entry["idempotency_key"]]["provider_message_id"] == entry["message_id"]
    kinds = Counter(e["channel"] for e in entries)
    assert kinds == Counter(demo.report.dispatch.sent_by_kind())
    assert set(kinds) == {"email", "sms", "webhook"}


def _customer(demo: Demo, key: str) -> sqlite3.Row:
    row = demo.db.execute(
        "select c.*, a.template, a.journey, p.code from action_run a "
        "join customer c on c.id = a.customer_id "
        "left join promo_code p on p.action_idempotency_key = a.idempotency_key "
        "where a.idempotency_key = ?",
        (key,),
    ).fetchone()
    assert row is not None
    return row


def test_the_emails_in_the_outbox_are_real_emails_to_the_customer(demo: Demo) -> None:
    journeys = {j.journey: j for j in demo.report.journeys}
    reviews = 0
    for entry in _outbox_entries(demo.outbox):
        if entry["channel"] != "email":
            continue
        raw = (demo.outbox / entry["file"]).read_bytes()
        mail = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(mail, EmailMessage)
        customer = _customer(demo, entry["idempotency_key"])
        assert mail["To"] == customer["email"]
        assert (
            mail["From"].addresses[0].addr_spec
            == journeys[customer["journey"]].settings.sender.email
        )
        text = mail.get_body(("plain",))
        html = mail.get_body(("html",))
        assert text is not None and html is not None
        assert customer["first_name"] in text.get_content()
        assert customer["first_name"] in html.get_content()
        if customer["template"] == "review_request":
            reviews += 1
            assert customer["code"] and customer["code"] in text.get_content()
            assert customer["code"] in html.get_content()
            assert mail["List-Unsubscribe"] and mail["Subject"]
    assert reviews > 0


def test_the_sms_in_the_outbox_greet_the_customer(demo: Demo) -> None:
    comebacks = 0
    for entry in _outbox_entries(demo.outbox):
        if entry["channel"] != "sms":
            continue
        text = (demo.outbox / entry["file"]).read_text(encoding="utf-8")
        customer = _customer(demo, entry["idempotency_key"])
        assert customer["first_name"] in text
        assert entry["to"] == customer["phone"]
        if customer["template"] == "we_miss_you":
            comebacks += 1
            assert customer["code"] in text
    assert comebacks > 0


def test_dispatching_again_sends_nothing_new(demo: Demo, tmp_path: Path) -> None:
    before = sorted(p.name for p in demo.outbox.rglob("*"))
    engine = create_db_engine(f"sqlite:///{demo.report.database}")
    channels = {k: OutboxChannel(demo.outbox, kind=k) for k in ("email", "sms", "webhook")}
    try:
        summary = dispatch_due(
            engine, demo.report.journeys, channels, _renderer(), demo.end, worker="again"
        )
    finally:
        engine.dispose()
    assert (summary.claimed, sum(summary.outcomes.values())) == (0, 0)
    assert sorted(p.name for p in demo.outbox.rglob("*")) == before


def test_the_report_counts_what_the_store_holds(demo: Demo) -> None:
    d = demo.report.dispatch
    assert (d.stale, d.outcomes["failed"], d.outcomes["unknown"]) == (0, 0, 0)
    sent = demo.db.execute("select count(*) from action_run where status = 'sent'").fetchone()[0]
    assert d.outcomes["sent"] == sent == sum(d.sent_by_kind().values())


# --- what can go wrong, one action at a time -----------------------------------------------

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIFECYCLE = next(j for j in load_journeys() if j.journey == "customer_lifecycle")


class Scripted:
    """An email channel that answers from a script, then 'sent'."""

    name = "scripted"
    kind = "email"

    def __init__(self, *answers: SendResult | BaseException) -> None:
        self.answers = list(answers)
        self.sent: list[OutboundMessage] = []

    def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        answer = self.answers.pop(0) if self.answers else None
        if isinstance(answer, BaseException):
            raise answer
        return answer or SendResult("sent", provider_message_id=f"p-{len(self.sent)}")

    def close(self) -> None:
        pass


def _renderer(templates: Path | None = None) -> Renderer:
    return Renderer(templates or templates_dir(), SIGNER, RenderSettings(), ChannelSettings())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'dispatch.db'}")
    create_schema(engine)
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [LIFECYCLE])
    yield engine
    engine.dispose()


def order(engine: Engine, *customers: dict[str, Any]) -> None:
    """Each customer orders (total 50: a thank-you email, no webhook)."""
    registry = JourneyRegistry()
    events = [
        IncomingEvent(
            source="shop",
            external_id=f"order-{c['id']}",
            type="order.completed",
            customer_id=c["id"],
            occurred_at=T0,
            data={"order_id": f"A-{c['id']}", "total": 50},
            customer={k: v for k, v in c.items() if k != "id"},
        )
        for c in customers
    ]
    with session_scope(engine) as session:
        registry.register(session, [LIFECYCLE])
        apply_events(session, registry, events, T0)


def statuses(engine: Engine) -> dict[str, tuple[str, str | None]]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "select c.external_id, a.status, a.last_error from action_run a "
            "join customer c on c.id = a.customer_id where a.kind = 'email'"
        ).all()
    return {external_id: (status, error) for external_id, status, error in rows}


def dispatch(engine: Engine, channel: Scripted, at: datetime, **kw: Any) -> Any:
    kw.setdefault("renderer", _renderer())
    return dispatch_due(engine, [LIFECYCLE], {"email": channel}, now=at, **kw)


KIM = {"id": "kim", "email": "kim@example.com", "first_name": "Kim", "locale": "de"}


def test_a_sent_message_names_the_order_of_the_event_that_caused_it(engine: Engine) -> None:
    order(engine, KIM)
    channel = Scripted()

    summary = dispatch(engine, channel, T0)

    assert summary.outcomes == Counter({"sent": 1})
    [message] = channel.sent
    assert "A-kim" in (message.subject or "")  # the order id comes from the event
    assert message.header("List-Unsubscribe") is None  # an order confirmation
    assert statuses(engine) == {"kim": ("sent", None)}


def test_a_run_without_suspects_claims_its_batch_in_its_first_transaction(
    engine: Engine,
) -> None:
    # A dispatcher runs every minute: each transaction it opens is paid every minute.
    customers = [{**KIM, "id": f"kim-{n}", "email": f"kim{n}@example.com"} for n in range(6)]
    order(engine, *customers)
    begun: list[object] = []
    listener = begun.append
    event.listen(engine, "begin", listener)
    try:
        summary = dispatch(engine, Scripted(), T0)  # four at a time: two chunks
    finally:
        event.remove(engine, "begin", listener)

    assert summary.outcomes == Counter({"sent": 6}) and summary.batches == 1
    # The claim (after looking for suspects), one per chunk, the last chunk's outcomes.
    assert len(begun) == 1 + 2 + 1


def test_a_retryable_failure_backs_off_then_gives_up(engine: Engine) -> None:
    order(engine, KIM)
    busy = RetryableSendError("HTTP 503")
    channel = Scripted(busy, busy, busy)

    assert dispatch(engine, channel, T0, max_attempts=3).outcomes == Counter({"retry": 1})
    assert dispatch(engine, channel, T0 + timedelta(seconds=59)).claimed == 0  # 1 min backoff
    assert dispatch(engine, channel, T0 + timedelta(minutes=1), max_attempts=3).outcomes == {
        "retry": 1
    }
    assert dispatch(engine, channel, T0 + timedelta(minutes=2)).claimed == 0  # then 2 min
    last = dispatch(engine, channel, T0 + timedelta(minutes=3), max_attempts=3)

    assert last.outcomes == Counter({"failed": 1})
    assert len(channel.sent) == 3
    status, error = statuses(engine)["kim"]
    assert status == "failed" and error == "gave up after 3 attempts: HTTP 503"


def test_a_provider_asking_for_patience_gets_it(engine: Engine) -> None:
    order(engine, KIM)
    channel = Scripted(RetryableSendError("HTTP 429", retry_after=600))
    dispatch(engine, channel, T0)
    assert dispatch(engine, channel, T0 + timedelta(minutes=9)).claimed == 0
    assert dispatch(engine, channel, T0 + timedelta(minutes=10)).outcomes == Counter({"sent": 1})


def test_an_unknown_outcome_is_never_sent_again(engine: Engine) -> None:
    order(engine, KIM)
    channel = Scripted(SendResult("unknown", reason="read timeout after the request left"))

    assert dispatch(engine, channel, T0).outcomes == Counter({"unknown": 1})
    assert dispatch(engine, channel, T0 + timedelta(days=1)).claimed == 0
    assert len(channel.sent) == 1
    assert statuses(engine)["kim"] == ("unknown", "read timeout after the request left")


def test_a_crash_while_sending_leaves_the_action_unknown(engine: Engine) -> None:
    order(engine, KIM)
    channel = Scripted(KeyboardInterrupt())  # the process dies with the request in flight
    with pytest.raises(KeyboardInterrupt):
        dispatch(engine, channel, T0)

    later = dispatch(engine, channel, T0 + timedelta(hours=1))

    assert later.recovered == Counter({"unknown": 1}) and later.claimed == 0
    assert len(channel.sent) == 1
    assert statuses(engine)["kim"][0] == "unknown"


def test_a_crash_before_sending_sends_once_after_the_lease(engine: Engine) -> None:
    order(engine, KIM)

    def dies(action: ClaimedAction, now: datetime) -> Any:
        raise KeyboardInterrupt

    channel = Scripted()
    with pytest.raises(KeyboardInterrupt):
        dispatch(engine, channel, T0, policy=dies)
    assert dispatch(engine, channel, T0 + timedelta(seconds=30)).claimed == 0  # leased

    # The lease is sized to a chunk: a crashed dispatcher's claims are free in a minute.
    later = dispatch(engine, channel, T0 + timedelta(seconds=61))

    assert later.recovered == Counter({"pending": 1}) and later.outcomes == {"sent": 1}
    assert len(channel.sent) == 1


def test_the_policy_defers_and_skips(engine: Engine) -> None:
    order(engine, KIM, {"id": "lea", "email": "lea@example.com", "first_name": "Lea"})
    morning = T0 + timedelta(hours=23)

    def quiet(action: ClaimedAction, now: datetime) -> Any:
        if action.customer.external_id == "lea":
            return Skip("no consent for email")
        return Defer(morning, "quiet hours") if now < morning else allow_all(action, now)

    channel = Scripted()
    first = dispatch(engine, channel, T0, policy=quiet)
    assert first.outcomes == Counter({"deferred": 1, "skipped": 1})
    assert statuses(engine) == {
        "kim": ("pending", "quiet hours"),
        "lea": ("skipped", "no consent for email"),
    }
    assert dispatch(engine, channel, morning - timedelta(minutes=1), policy=quiet).claimed == 0
    assert dispatch(engine, channel, morning, policy=quiet).outcomes == Counter({"sent": 1})
    assert [m.to for m in channel.sent] == ["kim@example.com"]


def test_one_bad_action_does_not_stop_the_batch(engine: Engine, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates)
    broken = templates / "en" / "thank_you.email.j2"
    broken.write_text(
        broken.read_text(encoding="utf-8").replace("{{ brand.name }}", "{{ brand.nmae }}"),
        encoding="utf-8",
    )
    order(
        engine,
        KIM,
        {"id": "emma", "email": "emma@example.com", "first_name": "Emma", "locale": "en"},
        {"id": "noah", "first_name": "Noah", "phone": "+491701234567"},
    )
    channel = Scripted()

    summary = dispatch(engine, channel, T0, renderer=_renderer(templates))

    assert summary.outcomes == Counter({"sent": 1, "failed": 2})
    result = statuses(engine)
    assert result["kim"] == ("sent", None)
    assert result["noah"] == ("failed", "no email address")
    assert result["emma"][0] == "failed" and "en/thank_you.email.j2" in (result["emma"][1] or "")
    assert "nmae" in (result["emma"][1] or "")
    assert [m.to for m in channel.sent] == ["kim@example.com"]


def test_a_journey_version_the_store_knows_is_found_there(engine: Engine) -> None:
    order(engine, KIM)
    registry = JourneyRegistry()  # knows nothing yet: the version is read from the store
    channel = Scripted()
    summary = dispatch_due(engine, registry, {"email": channel}, _renderer(), T0)
    assert summary.outcomes == Counter({"sent": 1})


class CountingOutbox(OutboxChannel):
    """The real outbox folder, remembering how many messages each call wrote."""

    def __init__(self, folder: Path, batch_size: int) -> None:
        super().__init__(folder, kind="email", batch_size=batch_size, durable=False)
        self.calls: list[int] = []

    def send_batch(self, messages: Any) -> Any:
        self.calls.append(len(messages))
        return super().send_batch(messages)


def test_the_outbox_takes_chunks_of_its_own_size(engine: Engine, tmp_path: Path) -> None:
    customers = [{**KIM, "id": f"kim{i}", "email": f"kim{i}@example.com"} for i in range(7)]
    order(engine, *customers)
    outbox = CountingOutbox(tmp_path / "outbox", batch_size=3)

    summary = dispatch_due(engine, [LIFECYCLE], {"email": outbox}, _renderer(), T0, concurrency=1)

    # Written (and synced) three at a time, not one per request in flight.
    assert outbox.calls == [3, 3, 1]
    assert summary.outcomes == Counter({"sent": 7})
    assert len(list((tmp_path / "outbox").rglob("*.eml"))) == 7
    assert set(statuses(engine).values()) == {("sent", None)}


class DyingOutbox(OutboxChannel):
    """The real outbox folder in a process that dies before or after it writes."""

    def __init__(self, folder: Path, *, after_writing: bool) -> None:
        super().__init__(folder, kind="email", durable=False)
        self.after_writing = after_writing

    def send_batch(self, messages: Any) -> Any:
        if self.after_writing:
            super().send_batch(messages)
        raise KeyboardInterrupt


@pytest.mark.parametrize("after_writing", [False, True], ids=["before", "after"])
def test_the_outbox_sends_once_what_a_crash_left_unknown(
    engine: Engine, tmp_path: Path, after_writing: bool
) -> None:
    order(engine, KIM)
    folder = tmp_path / "outbox"
    with pytest.raises(KeyboardInterrupt):
        dispatch_due(
            engine,
            [LIFECYCLE],
            {"email": DyingOutbox(folder, after_writing=after_writing)},
            _renderer(),
            T0,
        )
    assert statuses(engine)["kim"][0] == "claimed"  # marked as sending, never recorded

    later = dispatch_due(
        engine, [LIFECYCLE], {"email": OutboxChannel(folder)}, _renderer(), T0 + timedelta(hours=1)
    )

    # Not reported unknown for ever: the folder's index tells whether it has the
    # message, so sending again writes it once or only reports the copy it has.
    assert later.recovered == Counter({"unknown": 1, "retried": 1})
    assert later.outcomes == Counter({"sent": 1})
    assert statuses(engine)["kim"] == ("sent", None)
    assert len(list(folder.rglob("*.eml"))) == 1


def test_unknown_sends_of_a_provider_are_not_sent_again(engine: Engine, tmp_path: Path) -> None:
    order(engine, KIM)
    channel = Scripted(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        dispatch(engine, channel, T0)
    # The outbox is there for SMS only: an unknown email stays unknown.
    sms = OutboxChannel(tmp_path / "outbox", kind="sms")
    later = dispatch_due(
        engine, [LIFECYCLE], {"email": channel, "sms": sms}, _renderer(), T0 + timedelta(hours=1)
    )
    assert later.recovered == Counter({"unknown": 1})
    assert len(channel.sent) == 1
    assert statuses(engine)["kim"][0] == "unknown"
