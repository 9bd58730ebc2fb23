"""Provider reports on sent messages, and consent by address (store/feedback/message_events.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import Engine, update

from journeys.errors import StoreError
from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope
from journeys.store.feedback.message_events import (
    MessageReport,
    MessageStats,
    customers_by_phone,
    message_stats,
    record_message_events,
    set_address_consent,
)
from journeys.store.tables import action_run_t

if TYPE_CHECKING:
    from conftest import Peek

MakeEvent = Callable[..., IncomingEvent]
M = timedelta(minutes=1)


@pytest.fixture
def welcomes(
    engine: Engine, registry: JourneyRegistry, make_event: MakeEvent, t0: datetime
) -> dict[str, str]:
    """Three customers sign up; their welcome mails were sent (SG-0, SG-1, SG-2).
    Returns the welcome's idempotency key per customer."""
    profiles = {
        "c0": {"email": "Anna@Example.com", "phone": "+4915112345678"},
        "c1": {"email": "ben@example.com", "phone": "+4915112345678"},
        "c2": {"email": "cem@example.com", "phone": "+4917612345678"},
    }
    events = [make_event("account.created", c, profile=p) for c, p in profiles.items()]
    with session_scope(engine) as session:
        apply_events(session, registry, events, t0)
    keys: dict[str, str] = {}
    with session_scope(engine) as session:
        conn = session.connection()
        rows = conn.execute(
            action_run_t.select().where(action_run_t.c.action_key == "welcome")
        ).all()
        for n, row in enumerate(sorted(rows, key=lambda r: r.customer_id)):
            keys[f"c{n}"] = row.idempotency_key
            conn.execute(
                update(action_run_t)
                .where(action_run_t.c.id == row.id)
                .values(status="sent", provider_message_id=f"SG-{n}")
            )
    return keys


def record(engine: Engine, *reports: MessageReport, now: datetime) -> list[Any]:
    with session_scope(engine) as session:
        return record_message_events(session, list(reports), now)


def action(peek: Peek, key: str) -> dict[str, Any]:
    (row,) = [r for r in peek.rows("action_run") if r["idempotency_key"] == key]
    return row


def test_reports_match_by_key_else_by_provider_id(
    engine: Engine, peek: Peek, welcomes: dict[str, str], t0: datetime
) -> None:
    at = t0 + M
    matched = record(
        engine,
        MessageReport("sendgrid", "delivered", at, idempotency_key=welcomes["c0"]),
        MessageReport("sendgrid", "delivered", at, provider_message_id="SG-1"),
        # A key nobody issued, with a provider id that is known: the id still matches.
        MessageReport("sendgrid", "open", at, idempotency_key="nope", provider_message_id="SG-2"),
        MessageReport("twilio", "failed", at, provider_message_id="SM-unknown"),
        now=at,
    )
    assert [m and m.customer_external_id for m in matched] == ["c0", "c1", "c2", None]
    assert [m and m.idempotency_key for m in matched[:3]] == [
        welcomes[c] for c in ("c0", "c1", "c2")
    ]
    events = [(e["action_run_id"], e["provider"], e["event"]) for e in peek.rows("message_event")]
    ids = [action(peek, welcomes[c])["id"] for c in ("c0", "c1", "c2")]
    assert events == [
        (ids[0], "sendgrid", "delivered"),
        (ids[1], "sendgrid", "delivered"),
        (ids[2], "sendgrid", "open"),
        (None, "twilio", "failed"),
    ]
    assert action(peek, welcomes["c0"])["delivery_status"] == "delivered"
    assert action(peek, welcomes["c1"])["delivery_status"] == "delivered"
    assert action(peek, welcomes["c2"])["delivery_status"] is None  # an open is not delivery


def test_a_late_report_does_not_overwrite_a_state_further_along(
    engine: Engine, peek: Peek, welcomes: dict[str, str], t0: datetime
) -> None:
    key = welcomes["c0"]

    def report(event: str, minutes: int) -> tuple[str | None, datetime | None]:
        at = t0 + minutes * M
        record(engine, MessageReport("sendgrid", event, at, idempotency_key=key), now=at)
        row = action(peek, key)
        return row["delivery_status"], row["delivery_at"]

    assert report("delivered", 10) == ("delivered", t0 + 10 * M)
    # Older, or newer but earlier on the way (a report that lagged): no change.
    assert report("deferred", 5) == ("delivered", t0 + 10 * M)
    assert report("sent", 12) == ("delivered", t0 + 10 * M)
    assert report("queued", 13) == ("delivered", t0 + 10 * M)
    # Another outcome that happened later (an asynchronous bounce) replaces it ...
    assert report("bounce", 20) == ("bounce", t0 + 20 * M)
    # ... but not one that happened before it.
    assert report("delivered", 15) == ("bounce", t0 + 20 * M)
    assert len(peek.rows("message_event")) == 6  # every report is kept


def test_a_report_moves_the_state_forward_whatever_its_time(
    engine: Engine, peek: Peek, welcomes: dict[str, str], t0: datetime
) -> None:
    key = welcomes["c1"]
    record(engine, MessageReport("twilio", "sent", t0 + 5 * M, idempotency_key=key), now=t0)
    # Twilio's callbacks carry no time: 'delivered' may be stamped before 'sent'.
    record(engine, MessageReport("twilio", "delivered", t0 + 4 * M, idempotency_key=key), now=t0)
    assert action(peek, key)["delivery_status"] == "delivered"


def test_a_report_settles_an_unknown_send_as_sent(
    engine: Engine, peek: Peek, welcomes: dict[str, str], t0: datetime
) -> None:
    key = welcomes["c2"]
    with engine.begin() as conn:
        conn.execute(
            update(action_run_t)
            .where(action_run_t.c.idempotency_key == key)
            .values(status="unknown", provider_message_id=None, last_error="read timeout")
        )
    at = t0 + M
    (ref,) = record(
        engine,
        MessageReport("sendgrid", "open", at, idempotency_key=key, provider_message_id="SG-x"),
        now=at,
    )
    assert ref is not None and ref.status == "unknown"
    row = action(peek, key)
    assert (row["status"], row["provider_message_id"], row["last_error"]) == ("sent", "SG-x", None)
    assert row["delivery_status"] is None
    # A later report does not replace the provider id the send got.
    record(engine, MessageReport("sendgrid", "delivered", at, idempotency_key=key), now=at)
    row = action(peek, key)
    assert (row["status"], row["provider_message_id"]) == ("sent", "SG-x")


def test_a_report_checks_its_event_and_time(t0: datetime) -> None:
    with pytest.raises(StoreError, match=r"unknown message event 'delivred'.*did you mean"):
        MessageReport("sendgrid", "delivred", t0)
    with pytest.raises(StoreError, match="time zone-aware"):
        MessageReport("sendgrid", "delivered", t0.replace(tzinfo=None))


def test_address_consent_finds_email_without_regard_to_case(
    engine: Engine, peek: Peek, welcomes: dict[str, str], t0: datetime
) -> None:
    with session_scope(engine) as session:
        applied = set_address_consent(
            session, "email", "  anna@EXAMPLE.com ", "suppressed", "sendgrid_bounce", t0
        )
        nobody = set_address_consent(session, "email", "x@example.com", "suppressed", "b", t0)
    assert [c.external_id for c in applied] == ["c0"]
    assert nobody == []
    consents = [(c["customer_id"], c["channel"], c["status"]) for c in peek.rows("consent")]
    assert consents == [(applied[0].id, "email", "suppressed")]


def test_address_consent_on_a_shared_number_applies_to_every_customer(
    engine: Engine, peek: Peek, welcomes: dict[str, str], t0: datetime
) -> None:
    with session_scope(engine) as session:
        applied = set_address_consent(
            session, "sms", "+4915112345678", "unsubscribed", "sms_keyword", t0
        )
        assert customers_by_phone(session.connection(), "+4917612345678")[0].external_id == "c2"
        with pytest.raises(StoreError, match="valid are: email, sms"):
            set_address_consent(session, "push", "x", "unsubscribed", "s", t0)
    assert [c.external_id for c in applied] == ["c0", "c1"]
    history = [(h["status"], h["source"]) for h in peek.rows("consent_change")]
    assert history == [("unsubscribed", "sms_keyword")] * 2


def test_message_stats_count_each_message_once_per_kind_of_report(
    engine: Engine, welcomes: dict[str, str], t0: datetime
) -> None:
    at = t0 + M

    def r(customer: str, event: str) -> MessageReport:
        return MessageReport("sendgrid", event, at, idempotency_key=welcomes[customer])

    record(
        engine,
        r("c0", "delivered"),
        r("c0", "open"),
        r("c0", "open"),
        r("c0", "click"),
        r("c0", "unsubscribe"),
        r("c1", "delivered"),
        r("c1", "spamreport"),
        r("c2", "deferred"),
        r("c2", "bounce"),
        MessageReport("sendgrid", "delivered", at, provider_message_id="SG-unknown"),
        now=at,
    )
    with session_scope(engine) as session:
        stats = message_stats(session)
        assert message_stats(session, journey="other") == []
    # The nudges are still pending: sent counts only messages that left.
    assert stats == [MessageStats("onboarding", "welcome", 3, 2, 1, 1, 1, 1, 1)]
