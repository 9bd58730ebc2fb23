"""Bulk import into the store, on SQLite and PostgreSQL: customers and consent by the
store's rules, and a file imported twice changes nothing the second time."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import Engine

from flows.importing import import_file
from journeys.store import JourneyRegistry, session_scope
from journeys.store.people.consent import record_consent
from journeys.store.people.consent_rules import consent_outcome
from journeys.store.people.erased import add_erased
from journeys.store.people.importing import ConsentRow, import_consents, upsert_customers
from journeys.store.people.profiles import give_consent

if TYPE_CHECKING:
    from conftest import Peek

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
AT = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)

CUSTOMERS = (
    "id,email,phone,country,timezone,first_name,attr.segment,attributes\n"
    'k1,anna@example.com,0151 23456789,DE,Europe/Berlin,Anna,vip,"{""points"": 3}"\n'
    "k2,bob@example.com,+43 664 1234567,AT,Europe/Vienna,Bob,b2c,\n"
    "k3,carl@example.com,0151 1,DE,Europe/Berlin,Carl,,\n"  # phone too short
    "k4,dora@example.com,,CH,Europe/Zurch,Dora,,\n"  # time zone misspelt
)
CONSENT = (
    "customer_id,channel,status,source,at,ip,system,wording\n"
    "k1,email,subscribed,shop,2026-01-05T10:00:00Z,192.0.2.1,Shopware 6,Newsletter ja\n"
    "k2,email,pending,shop,2026-01-05T10:00:00Z,,,\n"
    "k2,sms,unsubscribed,shop,2026-01-05T10:00:00+01:00,,,\n"
    "k9,email,subscribed,shop,2026-01-05T10:00:00Z,,,\n"  # no such customer
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_customers_and_consent_import_once_and_again_unchanged(
    engine: Engine, peek: Peek, tmp_path: Path
) -> None:
    customers = _write(tmp_path, "customers.csv", CUSTOMERS)
    consent = _write(tmp_path, "consent.csv", CONSENT)

    first = import_file("customers", customers, engine, now=NOW)
    assert (first.created, first.updated, first.unchanged, first.rejected) == (2, 0, 0, 2)
    assert first.rejects_file == tmp_path / "customers.rejects.csv"
    with first.rejects_file.open(encoding="utf-8", newline="") as handle:
        rejects = list(csv.reader(handle))
    assert rejects[0][:5] == ["_line", "_field", "_reason", "id", "email"]
    assert [r[:2] + r[3:4] for r in rejects[1:]] == [["4", "phone", "k3"], ["5", "timezone", "k4"]]
    assert "did you mean Europe/Zurich" in rejects[2][2]
    rows = {r["external_id"]: r for r in peek.rows("customer")}
    assert rows["k1"]["phone"] == "+4915123456789"  # E.164 in the row's country
    assert rows["k2"]["phone"] == "+436641234567"
    assert rows["k1"]["attributes"] == {"segment": "vip", "points": 3}

    given = import_file("consent", consent, engine, now=NOW)
    assert (given.created, given.updated, given.unchanged, given.rejected) == (3, 0, 0, 1)
    assert "no customer with this id" in given.first_rejects[0]
    states = {(r["customer_id"], r["channel"]): r["status"] for r in peek.rows("consent")}
    k1, k2 = rows["k1"]["id"], rows["k2"]["id"]
    assert states == {
        (k1, "email"): "subscribed",
        (k2, "email"): "pending",
        (k2, "sms"): "unsubscribed",
    }
    proof = next(r for r in peek.rows("consent_change") if r["customer_id"] == k1)
    assert (proof["system"], proof["wording"], proof["detail"]) == (
        "Shopware 6",
        "Newsletter ja",
        "ip=192.0.2.1",
    )

    counts = peek.counts()
    again = import_file("customers", customers, engine, now=NOW + timedelta(days=1))
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 2)
    again_consent = import_file("consent", consent, engine, now=NOW + timedelta(days=1))
    assert (again_consent.created, again_consent.updated, again_consent.unchanged) == (0, 0, 3)
    assert peek.counts() == counts
    assert [r["updated_at"] for r in peek.rows("customer")] == [
        r["updated_at"] for r in peek.rows("customer")
    ]


def test_a_changed_row_updates_only_what_it_gives(engine: Engine, peek: Peek) -> None:
    with session_scope(engine) as session:
        conn = session.connection()
        upsert_customers(conn, [("k1", {"email": "a@example.com", "country": "DE"})], NOW)
    with session_scope(engine) as session:
        outcome = upsert_customers(
            session.connection(),
            [("k1", {"first_name": "Anna", "phone": "0151 23456789"})],
            NOW,
        )
    assert outcome == ["updated"]
    (row,) = peek.rows("customer")
    assert (row["email"], row["country"], row["first_name"]) == ("a@example.com", "DE", "Anna")
    assert row["phone"] == "+4915123456789"  # read in the stored country


def test_consent_import_never_lifts_a_suppressed_address(engine: Engine, peek: Peek) -> None:
    with session_scope(engine) as session:
        conn = session.connection()
        upsert_customers(conn, [("k1", {"email": "a@example.com"})], NOW)
    (customer_id,) = [r["id"] for r in peek.rows("customer")]
    with session_scope(engine) as session:
        record_consent(session.connection(), customer_id, "email", "suppressed", "sendgrid", AT)
    later = ConsentRow("k1", "email", "subscribed", "shop", AT + timedelta(days=1))
    older = ConsentRow("k1", "sms", "subscribed", "shop", AT - timedelta(days=1))
    for _ in range(2):
        with session_scope(engine) as session:
            outcomes = import_consents(session.connection(), [later, older])
    assert outcomes == ["unchanged", "unchanged"]  # the second time: in the history already
    assert {r["channel"]: r["status"] for r in peek.rows("consent")} == {
        "email": "suppressed",
        "sms": "subscribed",
    }
    kept = [r for r in peek.rows("consent_change") if r["status"] == "subscribed"]
    assert [r["channel"] for r in kept] == ["email", "sms"]  # once each
    assert kept[0]["detail"] == "not applied: the address stays suppressed"


def test_pending_stays_pending_unless_the_source_confirmed_it(engine: Engine, peek: Peek) -> None:
    with session_scope(engine) as session:
        upsert_customers(session.connection(), [("k1", {}), ("k2", {})], NOW)
        import_consents(
            session.connection(),
            [ConsentRow(k, "email", "pending", "shop", AT) for k in ("k1", "k2")],
        )
    later = AT + timedelta(days=1)
    with session_scope(engine) as session:
        outcomes = import_consents(
            session.connection(),
            [
                ConsentRow("k1", "email", "subscribed", "shop", later),
                ConsentRow("k2", "email", "subscribed", "shop", later, confirmed=True),
            ],
        )
    assert outcomes == ["kept", "updated"]
    states = [r["status"] for r in peek.rows("consent", "customer_id")]
    assert states == ["pending", "subscribed"]
    held = [r["detail"] for r in peek.rows("consent_change") if r["status"] == "subscribed"]
    assert held[0] == "not applied: double opt-in pending; the source declares no confirmation"


def test_the_consent_rule() -> None:
    assert consent_outcome(None, None, "pending", AT) == ("apply", None)
    assert consent_outcome("subscribed", AT, "subscribed", AT) == ("same", None)
    assert consent_outcome("suppressed", AT, "subscribed", AT + timedelta(1))[0] == "kept"
    assert consent_outcome("pending", AT, "subscribed", AT + timedelta(1))[0] == "kept"
    confirmed = consent_outcome("pending", AT, "subscribed", AT + timedelta(1), confirmed=True)
    assert confirmed == ("apply", None)
    assert consent_outcome("pending", AT, "subscribed", AT - timedelta(1))[0] == "late"
    assert consent_outcome("subscribed", AT, "unsubscribed", AT + timedelta(1)) == ("apply", None)


def test_events_go_through_the_inbox_once_and_are_applied(
    engine: Engine, registry: JourneyRegistry, peek: Peek, tmp_path: Path
) -> None:
    events = _write(
        tmp_path,
        "events.jsonl",
        '{"external_id": "o-1", "type": "account.created", "customer_id": "k1",'
        ' "occurred_at": "2026-03-01T10:00:00Z", "source": "shop",'
        ' "customer": {"email": "a@example.com"}}\n'
        '{"external_id": "o-2", "type": "order.completed", "customer_id": "k1",'
        ' "occurred_at": "2026-03-01T11:00:00Z"}\n'
        '{"external_id": "o-1", "type": "account.created", "customer_id": "k1",'
        ' "occurred_at": "2026-03-01T10:00:00Z"}\n'
        '{"external_id": "o-3", "type": "order.completed", "customer_id": "k1",'
        ' "occurred_at": "yesterday"}\n',
    )
    first = import_file("events", events, engine, registry=registry, now=NOW)
    assert (first.created, first.unchanged, first.rejected) == (2, 1, 1)
    assert first.applied is not None and first.applied.events == 2
    inbox = peek.rows("inbound_event")
    assert [(e["source"], e["external_id"]) for e in inbox] == [
        ("import", "o-1"),
        ("import", "o-2"),
    ]
    assert all(e["processed_at"] is not None for e in inbox)
    assert [t["to_stage"] for t in peek.rows("stage_transition")] == ["signup", "active"]
    again = import_file("events", events, engine, registry=registry, now=NOW)
    assert (again.created, again.unchanged) == (0, 3)
    assert peek.count("stage_transition") == 2


def test_a_dry_run_writes_nothing(engine: Engine, peek: Peek, tmp_path: Path) -> None:
    customers = _write(tmp_path, "customers.csv", CUSTOMERS)
    before = peek.counts()
    summary = import_file("customers", customers, engine, dry_run=True)
    assert (summary.created, summary.rejected) == (2, 2)
    assert peek.counts() == before
    assert not (tmp_path / "customers.rejects.csv").exists()


def test_an_erased_person_is_not_imported_again(
    engine: Engine, peek: Peek, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JOURNEYFLOW_ERASURE_SECRET", "test-secret")
    with session_scope(engine) as session:
        add_erased(session.connection(), [("email", "gone@example.com")], NOW)
    path = _write(
        tmp_path,
        "customers.csv",
        "id,email\nk1,GONE@example.com\nk2,kept@example.com\n",
    )
    summary = import_file("customers", path, engine, now=NOW)
    assert (summary.created, summary.rejected) == (1, 1)
    assert summary.first_rejects[0].endswith(
        ":2: email: this customer's email belongs to a person who was erased (GDPR): "
        "not stored again"
    )
    assert [r["external_id"] for r in peek.rows("customer")] == ["k2"]


def test_import_and_the_people_api_decide_consent_alike(engine: Engine, peek: Peek) -> None:
    """Every (current consent, record) gives the same state and history either way."""
    cases = [
        (current, status, confirmed, offset)
        for current in (None, "pending", "subscribed", "unsubscribed", "suppressed")
        for status in ("pending", "subscribed", "unsubscribed")
        for confirmed in (False, True)
        for offset in (timedelta(days=1), timedelta(days=-1))
    ]
    ids = [f"{way}{n}" for n in range(len(cases)) for way in ("api-", "imp-")]
    with session_scope(engine) as session:
        upsert_customers(session.connection(), [(i, {}) for i in ids], NOW)
    customer = {r["external_id"]: r["id"] for r in peek.rows("customer")}
    with session_scope(engine) as session:
        conn = session.connection()
        for n, (current, status, confirmed, offset) in enumerate(cases):
            for way in ("api-", "imp-"):
                if current is not None:
                    record_consent(conn, customer[f"{way}{n}"], "email", current, "old", AT)
            give_consent(
                conn,
                customer[f"api-{n}"],
                "email",
                status,
                source="shop",
                at=AT + offset,
                confirmed=confirmed,
            )
            row = ConsentRow(f"imp-{n}", "email", status, "shop", AT + offset, confirmed=confirmed)
            import_consents(conn, [row])
    state = {r["customer_id"]: r["status"] for r in peek.rows("consent")}
    history = {}
    for r in peek.rows("consent_change"):
        if r["source"] == "shop":
            history[r["customer_id"]] = (r["status"], r["previous_status"], r["detail"])
    for n, case in enumerate(cases):
        api, imp = customer[f"api-{n}"], customer[f"imp-{n}"]
        assert (state[api], history[api]) == (state[imp], history[imp]), case
