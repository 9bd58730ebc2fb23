"""Customers and consent from a CRM or shop: upsert, consent with proof, the erased list,
and one customer as a document."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from journeys.store import IncomingEvent, JourneyRegistry, apply_events, session_scope
from journeys.store.people.erased import ErasedCustomer, add_erased, erased
from journeys.store.people.profile_rules import ProfileError, parse_profile
from journeys.store.people.profiles import give_consent, upsert_customer
from journeys.store.people.view import customer_export, customer_view

if TYPE_CHECKING:
    from conftest import Peek

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
KEY = b"test-erasure-key-0123456789"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JOURNEYFLOW_ERASURE_SECRET", KEY.decode())


def _upsert(engine: Engine, external_id: str, **fields: Any) -> tuple[int, str]:
    with session_scope(engine) as session:
        return upsert_customer(session, external_id, fields, NOW)


def test_upsert_creates_updates_and_recognises_no_change(engine: Engine, peek: Peek) -> None:
    first = _upsert(
        engine,
        "c-1",
        email="anna@example.com",
        country="de",
        phone="0151 23456789",
        attributes={"tier": "gold"},
    )
    assert first[1] == "created"
    assert _upsert(engine, "c-1", email="anna@example.com", attributes={"tier": "gold"}) == (
        first[0],
        "unchanged",
    )
    # A national number is read in the stored country; attributes are merged.
    assert _upsert(engine, "c-1", phone="030 1234567", attributes={"vip": True})[1] == "updated"
    (row,) = peek.rows("customer")
    assert row["phone"] == "+49301234567"
    assert row["country"] == "DE"
    assert row["attributes"] == {"tier": "gold", "vip": True}
    assert row["email"] == "anna@example.com"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"email": "not-an-address"}, "email"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"phone": "12"}, "phone"),
        ({"phone": "0151 23456789"}, "phone"),  # national, no country known
        ({"country": "Germany"}, "country"),
        ({"emali": "a@b.de"}, "emali"),
        ({"locale": 5}, "locale"),
    ],
)
def test_a_bad_profile_field_is_named(
    engine: Engine, peek: Peek, fields: dict[str, Any], field: str
) -> None:
    with pytest.raises(ProfileError) as caught:
        _upsert(engine, "c-1", **fields)
    assert caught.value.field == field
    assert peek.count("customer") == 0


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["email", "phone", "timezone", "locale", "country", "attributes", "x"]),
        st.one_of(st.none(), st.text(max_size=40), st.integers(), st.lists(st.integers())),
    )
)
def test_garbage_profiles_are_a_profile_error_or_a_profile(fields: dict[str, Any]) -> None:
    try:
        parse_profile(fields)
    except ProfileError as exc:
        assert exc.field


def _consent(engine: Engine, customer_id: int, status: str, at: timedelta, **kw: Any) -> str:
    with session_scope(engine) as session:
        return give_consent(session, customer_id, "email", status, source="shop", at=NOW + at, **kw)


def test_consent_keeps_its_proof(engine: Engine, peek: Peek) -> None:
    cid, _ = _upsert(engine, "c-1", email="anna@example.com")
    status = _consent(
        engine,
        cid,
        "subscribed",
        timedelta(0),
        ip="203.0.113.7",
        system="shopware",
        wording="newsletter-v3",
        confirmed=True,
    )
    assert status == "subscribed"
    (change,) = peek.rows("consent_change")
    assert (change["system"], change["wording"], change["purpose"]) == (
        "shopware",
        "newsletter-v3",
        "marketing",
    )
    assert change["detail"] == "ip=203.0.113.7"


def test_consent_never_lifts_suppressed(engine: Engine, peek: Peek) -> None:
    cid, _ = _upsert(engine, "c-1", email="anna@example.com")
    _consent(engine, cid, "suppressed", timedelta(0))
    assert _consent(engine, cid, "subscribed", timedelta(hours=1), confirmed=True) == "suppressed"
    assert [r["status"] for r in peek.rows("consent")] == ["suppressed"]
    assert "not applied" in (peek.rows("consent_change")[-1]["detail"] or "")


def test_pending_stays_pending_without_a_declared_confirmation(engine: Engine, peek: Peek) -> None:
    cid, _ = _upsert(engine, "c-1", email="anna@example.com")
    _consent(engine, cid, "pending", timedelta(0))
    assert _consent(engine, cid, "subscribed", timedelta(hours=1)) == "pending"
    assert _consent(engine, cid, "subscribed", timedelta(hours=2), confirmed=True) == "subscribed"
    assert [r["status"] for r in peek.rows("consent_change")] == [
        "pending",
        "subscribed",
        "subscribed",
    ]


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"status": "yes"}, "status"),
        ({"purpose": "profiling"}, "purpose"),
        ({"source": ""}, "source"),
        ({"at": datetime(2026, 3, 2)}, "at"),
    ],
)
def test_a_bad_consent_field_is_named(
    engine: Engine, peek: Peek, kw: dict[str, Any], field: str
) -> None:
    cid, _ = _upsert(engine, "c-1")
    args: dict[str, Any] = {"channel": "email", "status": "subscribed", "source": "shop", "at": NOW}
    args.update(kw)
    channel, status = args.pop("channel"), args.pop("status")
    with pytest.raises(ProfileError) as caught, session_scope(engine) as session:
        give_consent(session, cid, channel, status, **args)
    assert caught.value.field == field
    assert peek.count("consent_change") == 0


def test_an_erased_person_is_not_created_again(engine: Engine, peek: Peek) -> None:
    with session_scope(engine) as session:
        add_erased(
            session.connection(),
            [("external_id", "c-gone"), ("email", "Gone@Example.com"), ("phone", "+4915123456789")],
            NOW,
        )
    for external_id, fields, kind in [
        ("c-gone", {}, "external_id"),
        ("c-new", {"email": "gone@example.COM"}, "email"),
        ("c-new", {"phone": "+49 151 23456789"}, "phone"),
    ]:
        with pytest.raises(ErasedCustomer) as caught:
            _upsert(engine, external_id, **fields)
        assert caught.value.kinds == [kind]
    assert peek.count("customer") == 0
    # The list holds digests only, under the installation's key.
    assert all("gone" not in str(row).lower() for row in peek.rows("erased_identity"))
    with engine.connect() as conn:
        assert erased(conn, [("email", "gone@example.com")], key=b"another-key-xxxxxxxx") == set()


def test_customer_view_shows_consent_enrollments_and_messages(
    engine: Engine, registry: JourneyRegistry, make_event: Callable[..., IncomingEvent]
) -> None:
    with session_scope(engine) as session:
        assert customer_view(session, "c1") is None
        apply_events(session, registry, [make_event("account.created", "c1")], NOW)
        cid, _ = upsert_customer(session, "c1", {"email": "anna@example.com"}, NOW)
        give_consent(session, cid, "email", "subscribed", source="crm", at=NOW, confirmed=True)
    with session_scope(engine) as session:
        view = customer_view(session, "c1")
        export = customer_export(session, "c1", NOW)
    assert view is not None and export is not None
    assert view["customer"]["email"] == "anna@example.com"
    assert view["consent"]["email"]["status"] == "subscribed"
    assert [h["source"] for h in view["consent"]["email"]["history"]] == ["crm"]
    (enrollment,) = view["enrollments"]
    assert (enrollment["journey"], enrollment["stage"]) == ("onboarding", "signup")
    assert [t["to_stage"] for t in enrollment["history"]] == ["signup"]
    assert sorted(m["template"] for m in view["messages"]) == ["nudge", "welcome"]
    assert [e["type"] for e in export["events_received"]] == ["account.created"]
    assert export["format"] == "journeyflow.customer-export/1"


def _dump(engine: Engine) -> str:
    from sqlalchemy import select

    from journeys.store.tables import metadata

    with engine.connect() as conn:
        return "\n".join(
            str(row) for table in metadata.sorted_tables for row in conn.execute(select(table))
        )


def test_erasure_leaves_no_trace_and_keeps_counts(
    engine: Engine,
    registry: JourneyRegistry,
    make_event: Callable[..., IncomingEvent],
    peek: Peek,
) -> None:
    from journeys.store.people.erasure import erase_customer

    profile = {"email": "zelda.quux@example.org", "phone": "+4915199887766", "first_name": "Zelda"}
    with session_scope(engine) as session:
        events = [
            make_event("account.created", "zq-77", profile=profile),
            make_event("order.completed", "zq-77", timedelta(hours=1), note="for Zelda"),
        ]
        apply_events(session, registry, events, NOW)
        cid, _ = upsert_customer(session, "zq-77", {"last_name": "Quuxington"}, NOW)
        give_consent(session, cid, "email", "subscribed", source="crm", at=NOW, ip="198.51.100.9")
    before = {t: peek.count(t) for t in ("action_run", "stage_transition", "enrollment")}
    with session_scope(engine) as session:
        done = erase_customer(session, "zq-77", NOW)
        assert erase_customer(session, "nobody", NOW) is None
    assert done is not None and done.cancelled >= 1 and len(done.message_keys) >= 2
    dump = _dump(engine).lower()
    for trace in ("zelda", "quux", "15199887766", "zq-77", "198.51.100.9"):
        assert trace not in dump
    assert {t: peek.count(t) for t in before} == before
    assert {r["status"] for r in peek.rows("action_run")} <= {"skipped", "sent"}
    # A later event naming the person is stored without its data and applied to nobody.
    with session_scope(engine) as session:
        result = apply_events(
            session, registry, [make_event("order.completed", "zq-77", profile=profile)], NOW
        )
        other = make_event("account.created", "c-new", profile={"email": "Zelda.Quux@example.org"})
        apply_events(session, registry, [other], NOW)
    assert result.actions_scheduled == 0
    emails = [r["email"] for r in peek.rows("customer")]
    assert emails == [None, None]
    assert "zelda" not in _dump(engine).lower()
