"""The people API through the real service on 127.0.0.1: tokens, customers, consent,
journeys by hand, events, export and erasure; garbage never gets a 5xx."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from receiver_harness import LOCAL_TLS, ON_BOTH_STORES, serving
from sqlalchemy import Engine, text

from channels.inbound import Inbox, create_app, parse_receiver_config
from journeys.model import Journey
from journeys.store import JourneyRegistry, session_scope

WRITE = "w" * 24
READ = "r" * 24
JOURNEY: dict[str, Any] = {
    "journey": "onboarding",
    "version": 1,
    "name": "Onboarding",
    "stages": [
        {
            "key": "signup",
            "enter_when": {"event": "account.created"},
            "on_enter": [{"email": "welcome"}, {"after": "2d", "email": "nudge"}],
        },
        {
            "key": "active",
            "enter_when": {"event": "order.completed"},
            "on_enter": [{"email": "thanks"}],
        },
    ],
    "reentry": {"policy": "never"},
}


class Api:
    def __init__(self, url: str, engine: Engine) -> None:
        self.engine = engine
        self.http = httpx.Client(base_url=url + "/api/v1", timeout=10, verify=LOCAL_TLS)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str | None = WRITE,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        content = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        return self.http.request(method, path, content=content, headers=h)

    def rows(self, sql: str) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql)).all())


@pytest.fixture
def api(store_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Api]:
    monkeypatch.setenv("JOURNEYFLOW_API_TOKENS", f"crm:write:{WRITE},support:read:{READ}")
    monkeypatch.setenv("JOURNEYFLOW_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("JOURNEYFLOW_ERASURE_SECRET", "erasure-secret-0123456789")
    registry = JourneyRegistry()
    with session_scope(store_engine) as session:
        registry.register(session, [Journey.model_validate(JOURNEY)])
    inbox = Inbox(store_engine, clock=lambda: datetime.now(UTC))
    app = create_app(parse_receiver_config({"sources": {}}, {}), inbox)
    app.state.registry = registry
    with ExitStack() as stack:
        url = stack.enter_context(serving(app))
        client = Api(url, store_engine)
        stack.callback(client.http.close)
        yield client


def test_tokens_are_required_and_scoped(api: Api) -> None:
    assert api.call("GET", "/customers/c-1", token=None).status_code == 401
    assert api.call("GET", "/customers/c-1", token="x" * 24).status_code == 401
    assert api.call("GET", "/customers/c-1", token=READ).status_code == 404
    refused = api.call("PUT", "/customers/c-1", {"first_name": "Ann"}, token=READ)
    assert refused.status_code == 403
    assert api.rows("SELECT * FROM customer") == []


@ON_BOTH_STORES
def test_put_creates_updates_and_is_idempotent(api: Api) -> None:
    body = {
        "email": "anna@example.com",
        "phone": "0151 23456789",
        "country": "DE",
        "attributes": {"tier": "gold"},
    }
    assert api.call("PUT", "/customers/c-1", body).json()["result"] == "created"
    again = api.call("PUT", "/customers/c-1", body)
    assert (again.status_code, again.json()["result"]) == (200, "unchanged")
    assert api.call("PUT", "/customers/c-1", {"last_name": "Berg"}).json()["result"] == "updated"
    view = api.call("GET", "/customers/c-1", token=READ).json()
    assert view["customer"]["phone"] == "+4915123456789"
    assert view["customer"]["last_name"] == "Berg"
    # Changes are events in the customer's history (created, updated); no change is none.
    assert [r[0] for r in api.rows("SELECT type FROM inbound_event")] == ["customer.updated"] * 2


def test_a_bad_field_is_named_and_nothing_is_written(api: Api) -> None:
    response = api.call(
        "PUT", "/customers/c-1", {"email": "anna@example.com", "timezone": "Mars/X"}
    )
    assert response.status_code == 422
    assert response.json()["detail"]["field"] == "timezone"
    assert api.rows("SELECT * FROM customer") == []
    assert api.call("PUT", "/customers/c-1", raw=b"{nope").status_code == 400


@ON_BOTH_STORES
def test_consent_with_proof_never_lifts_suppressed(api: Api) -> None:
    api.call("PUT", "/customers/c-1", {"email": "anna@example.com"})
    proof = {
        "channel": "email",
        "status": "subscribed",
        "source": "shop",
        "ip": "203.0.113.5",
        "wording": "newsletter-v2",
        "at": "2026-03-01T10:00:00Z",
    }
    pending = api.call("POST", "/customers/c-1/consent", {**proof, "status": "pending"})
    assert pending.json()["consent"] == [{"channel": "email", "status": "pending"}]
    held = api.call("POST", "/customers/c-1/consent", {**proof, "at": "2026-03-01T11:00:00Z"})
    assert held.json()["consent"][0]["status"] == "pending"
    confirmed = {**proof, "at": "2026-03-01T12:00:00Z", "confirmed": True}
    assert (
        api.call("POST", "/customers/c-1/consent", confirmed).json()["consent"][0]["status"]
        == "subscribed"
    )
    api.call(
        "POST",
        "/customers/c-1/consent",
        {**proof, "status": "suppressed", "at": "2026-03-02T00:00:00Z"},
    )
    lifted = api.call("POST", "/customers/c-1/consent", {**confirmed, "at": "2026-03-03T00:00:00Z"})
    assert lifted.json()["consent"][0]["status"] == "suppressed"
    history = api.call("GET", "/customers/c-1", token=READ).json()["consent"]["email"]["history"]
    assert [h["wording"] for h in history] == ["newsletter-v2"] * 5
    assert history[0]["system"] == "api:crm"
    bad = api.call("POST", "/customers/c-1/consent", {**proof, "channel": "fax"})
    assert bad.status_code == 422 and "channel" in bad.json()["error"]
    assert api.call("POST", "/customers/nobody/consent", proof).status_code == 404


@pytest.mark.parametrize("at", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"])
def test_a_consent_time_beyond_the_years_a_store_holds_is_named(api: Api, at: str) -> None:
    api.call("PUT", "/customers/c-1", {"email": "anna@example.com"})
    proof = {"channel": "email", "status": "subscribed", "source": "shop", "at": at}
    response = api.call("POST", "/customers/c-1/consent", proof)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid fields: at"


@ON_BOTH_STORES
@pytest.mark.parametrize(
    ("method", "path", "token"),
    [("GET", "", READ), ("GET", "/export", READ), ("DELETE", "", WRITE)],
    ids=["view", "export", "erase"],
)
def test_a_nul_in_the_customer_id_is_a_4xx(api: Api, method: str, path: str, token: str) -> None:
    # PostgreSQL keeps no NUL in text: the query with it fails in the store.
    response = api.call(method, f"/customers/c%00x{path}", token=token)
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]


@ON_BOTH_STORES
def test_journeys_by_hand_follow_the_engine(api: Api) -> None:
    api.call("PUT", "/customers/c-1", {"email": "anna@example.com"})
    enrol = api.call("POST", "/customers/c-1/journeys/onboarding", {"action": "enrol"})
    assert enrol.json()["actions_scheduled"] == 2  # welcome now, the nudge in two days
    assert (
        api.call("POST", "/customers/c-1/journeys/onboarding", {"action": "enrol"}).status_code
        == 409
    )
    move = api.call(
        "POST", "/customers/c-1/journeys/onboarding", {"action": "move", "stage": "active"}
    )
    assert move.json()["actions_scheduled"] == 1
    exit_ = api.call("POST", "/customers/c-1/journeys/onboarding", {"action": "exit"})
    assert exit_.json()["ended"] == 1
    # reentry: never
    assert (
        api.call("POST", "/customers/c-1/journeys/onboarding", {"action": "enrol"}).status_code
        == 409
    )
    (enrollment,) = api.call("GET", "/customers/c-1", token=READ).json()["enrollments"]
    assert [(t["to_stage"], t["cause"]) for t in enrollment["history"]] == [
        ("signup", "api:crm"),
        ("active", "api:crm"),
    ]
    statuses = sorted(r[0] for r in api.rows("SELECT status FROM action_run"))
    assert statuses == ["pending", "pending", "skipped"]  # the nudge voided on leaving
    wrong = api.call("POST", "/customers/c-1/journeys/onboardin", {"action": "enrol"})
    assert wrong.status_code == 409 and "did you mean 'onboarding'" in wrong.json()["error"]


def test_events_with_a_token(api: Api) -> None:
    event = {
        "external_id": "o-1",
        "type": "order.completed",
        "customer_id": "c-1",
        "occurred_at": "2026-03-01T10:15:00Z",
    }
    assert api.call("POST", "/events", event, token=None).status_code == 401
    assert api.call("POST", "/events", event).json() == {"received": 1, "new": 1, "duplicates": 0}
    assert api.call("POST", "/events", [event]).json()["duplicates"] == 1
    missing = api.call("POST", "/events", {**event, "external_id": None})
    assert missing.status_code == 422


@ON_BOTH_STORES
def test_export_and_erase(api: Api, tmp_path: Path) -> None:
    api.call("PUT", "/customers/c-9", {"email": "quentin.zed@example.org", "first_name": "Quentin"})
    api.call("POST", "/customers/c-9/journeys/onboarding", {"action": "enrol"})
    export = api.call("GET", "/customers/c-9/export", token=READ)
    assert export.status_code == 200
    assert export.json()["customer"]["first_name"] == "Quentin"
    assert [e["type"] for e in export.json()["events_received"]] == ["customer.updated"]
    assert api.call("DELETE", "/customers/c-9", token=READ).status_code == 403
    erased = api.call("DELETE", "/customers/c-9")
    assert erased.status_code == 200 and erased.json()["cancelled"] == 2
    assert api.call("GET", "/customers/c-9", token=READ).status_code == 404
    assert api.call("DELETE", "/customers/c-9").status_code == 404
    again = api.call("PUT", "/customers/c-other", {"email": "Quentin.Zed@example.org"})
    assert again.status_code == 410
    assert "quentin" not in str(api.rows("SELECT * FROM customer")).lower()


def test_the_api_is_in_the_openapi_description(api: Api) -> None:
    paths = httpx.get(
        str(api.http.base_url).rstrip("/").removesuffix("/api/v1") + "/openapi.json"
    ).json()["paths"]
    assert {
        "/api/v1/customers/{customer_id}",
        "/api/v1/events",
        "/api/v1/customers/{customer_id}/export",
    } <= set(paths)


_text = st.text(max_size=30)
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_field_bodies = st.dictionaries(
    st.sampled_from(
        [
            "email",
            "phone",
            "country",
            "timezone",
            "locale",
            "attributes",
            "channel",
            "status",
            "source",
            "at",
            "action",
            "stage",
            "confirmed",
            "type",
            "customer_id",
            "external_id",
            "occurred_at",
        ]
    ),
    _json,
    max_size=6,
)


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method_path=st.sampled_from(
        [
            ("PUT", "/customers/{id}"),
            ("POST", "/customers/{id}/consent"),
            ("GET", "/customers/{id}"),
            ("GET", "/customers/{id}/export"),
            ("DELETE", "/customers/{id}"),
            ("POST", "/customers/{id}/journeys/onboarding"),
            ("POST", "/events"),
        ]
    ),
    customer=st.text(max_size=300),
    body=st.one_of(_json, _field_bodies, st.binary(max_size=64)),
    token=st.sampled_from([WRITE, READ, None, "a b", "x" * 24, WRITE + "x"]),
)
def test_garbage_never_gets_a_5xx(
    api: Api, method_path: tuple[str, str], customer: str, body: Any, token: str | None
) -> None:
    method, path = method_path
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    target = path.replace("{id}", quote(customer, safe="") or "x")
    response = api.call(method, target, raw=raw, token=token)
    assert response.status_code < 500, response.text
