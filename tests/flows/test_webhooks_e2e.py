"""The receiver as it is run: `journeyflow webhooks` and `journeyflow serve` as processes.

Each test starts the real command on 127.0.0.1 with a temporary SQLite store and outbox
folder, the shipped journeys and the repository's webhooks.yaml, and sends real HTTP
requests signed the way each sender signs them: Standard Webhooks and HubSpot v3
computed here from their definitions, Twilio with its SDK's RequestValidator, SendGrid
with an ECDSA key of `cryptography` (the library its SDK verifies with).
"""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prefect_db import migrated_home
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

JOURNEYFLOW = str(Path(sys.executable).with_name("journeyflow"))
SHOP_KEY = b"0123456789abcdef0123456789abcdef"
HUBSPOT_SECRET = "hubspot-client-secret-for-tests"
TWILIO_TOKEN = "twilio-auth-token-for-tests-0123"
PUBLIC_URL = "https://hooks.example.test"  # as behind a proxy: senders sign this URL
SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SERVING = "Your deployments are being served"  # what Prefect's runner prints once it polls
T = TypeVar("T")


def environment(tmp: Path, **extra: str) -> dict[str, str]:
    """The developer's environment without provider keys, Prefect or journeyflow settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SENDGRID_", "TWILIO_", "HUBSPOT_", "JOURNEYFLOW_", "PREFECT_"))
    }
    env.update(
        JOURNEYFLOW_DATABASE_URL=f"sqlite:///{tmp / 'journeyflow.db'}",
        JOURNEYFLOW_OUTBOX_DIR=str(tmp / "outbox"),
        JOURNEYFLOW_LINK_SECRET="link-secret-for-the-e2e-tests-0123",
        JOURNEYFLOW_SHOP_WEBHOOK_SECRET="whsec_" + base64.b64encode(SHOP_KEY).decode(),
        PREFECT_HOME=str(tmp / "prefect"),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        PYTHONUNBUFFERED="1",  # the logs are read while the process runs
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 15) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.1)


# One client for the module: a new one per request (httpx.get) loads the CA bundle again,
# 20 ms of CPU, and the readiness polls make hundreds of requests.
HTTP = httpx.Client(timeout=10)


@dataclass
class Running:
    """A journeyflow process, its working folder and its store."""

    process: subprocess.Popen[bytes]
    url: str
    tmp: Path
    log: Path

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return HTTP.post(f"{self.url}{path}", content=body, headers=headers, timeout=15)

    def rows(self, sql: str, **params: Any) -> list[Any]:
        engine = create_engine(f"sqlite:///{self.tmp / 'journeyflow.db'}")
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(sql), params).all())
        finally:
            engine.dispose()

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"did not stop within {timeout:.0f} s:\n{self.output()}") from None


@pytest.fixture
def start() -> Iterator[Callable[..., Running]]:
    """`start(tmp, args, env)` runs `journeyflow <args>` there until its receiver answers."""
    started: list[Running] = []

    def run(tmp: Path, args: list[str], env: dict[str, str], port: int) -> Running:
        log = tmp / f"{args[0]}-{len(started)}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [JOURNEYFLOW, *args], cwd=tmp, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        running = Running(process, f"http://127.0.0.1:{port}", tmp, log)
        started.append(running)

        def healthy() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"journeyflow {args[0]} exited:\n{running.output()}")
            try:
                return HTTP.get(f"{running.url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(f"journeyflow {args[0]} answering", healthy, timeout=60)
        return running

    yield run
    for running in started:
        if running.process.poll() is None:
            running.stop()


# --- what the senders do ---------------------------------------------------------------------


def shop_headers(body: bytes, msg_id: str) -> dict[str, str]:
    """Standard Webhooks: HMAC-SHA256 over "id.timestamp.body", base64, as "v1,<sig>"."""
    timestamp = str(int(time.time()))
    mac = hmac.new(SHOP_KEY, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac).decode(),
    }


def shop_event(type: str, customer_id: str, **fields: Any) -> bytes:
    event = {
        "type": type,
        "customer_id": customer_id,
        "occurred_at": datetime.now(UTC).isoformat(),
        **fields,
    }
    return json.dumps(event).encode()


def post_shop(running: Running, body: bytes) -> httpx.Response:
    response = running.post("/webhooks/shop", body, shop_headers(body, f"msg_{uuid.uuid4().hex}"))
    assert response.status_code == 200, response.text
    return response


def sent_messages(tmp: Path) -> list[dict[str, Any]]:
    """The metadata of every message in the outbox folder (<day>/<message id>.json)."""
    return [
        json.loads(path.read_text(encoding="utf-8"))
        for path in (tmp / "outbox").glob("*/*.json")
        if not path.parent.name.startswith(".") and not path.name.endswith(".webhook.json")
    ]


def mail_to(tmp: Path, journey: str, action: str, address: str) -> dict[str, Any] | None:
    return next(
        (
            m
            for m in sent_messages(tmp)
            if (m["journey"], m["action"], m["to"]) == (journey, action, address)
        ),
        None,
    )


def thank_you_to(tmp: Path, address: str) -> dict[str, Any] | None:
    """The thank-you for the order: several shipped journeys thank for an order, and the
    customer gets one of them (whichever journey comes first), never more."""
    mails = [m for m in sent_messages(tmp) if (m["action"], m["to"]) == ("thank_you", address)]
    assert len(mails) <= 1, mails
    return mails[0] if mails else None


def link_in(eml: Path) -> str:
    """The first signed link (…/l/<token>) in the text part of a mail."""
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    part = message.get_body(("plain",))
    assert part is not None
    found = re.search(r"https?://\S+/l/[A-Za-z0-9_.-]+", part.get_content())
    assert found, "no link in the mail"
    return found.group(0)


def daytime_zone() -> str:
    """A time zone where it is now about noon: marketing mail is never in quiet hours."""
    offset = 12 - datetime.now(UTC).hour
    return f"Etc/GMT{-offset:+d}"  # POSIX signs: Etc/GMT-2 is two hours ahead of UTC


def stage_of(running: Running, customer: str, journey: str = "five_phases") -> str | None:
    rows = running.rows(
        "SELECT e.stage FROM enrollment e JOIN customer c ON c.id = e.customer_id "
        "WHERE c.external_id = :customer AND e.journey = :journey AND e.status = 'active'",
        customer=customer,
        journey=journey,
    )
    return rows[0][0] if rows else None


def consent_of(running: Running, customer: str, channel: str) -> str | None:
    rows = running.rows(
        "SELECT s.status FROM consent s JOIN customer c ON c.id = s.customer_id "
        "WHERE c.external_id = :customer AND s.channel = :channel",
        customer=customer,
        channel=channel,
    )
    return rows[0][0] if rows else None


# --- journeyflow webhooks --------------------------------------------------------------------


def test_a_sign_up_and_an_order_get_their_mails_within_seconds(
    tmp_path: Path, start: Callable[..., Running]
) -> None:
    port = free_port()
    env = environment(tmp_path, JOURNEYFLOW_PUBLIC_URL=f"http://127.0.0.1:{port}")
    receiver = start(tmp_path, ["webhooks", "--port", str(port)], env, port)
    health = HTTP.get(f"{receiver.url}/healthz").json()
    assert health["sources"] == ["shop"]  # the others lack their secrets
    assert set(health["disabled"]) == {"crm", "hubspot", "twilio", "sendgrid"}

    address = "anna@example.test"
    profile = {"email": address, "first_name": "Anna", "locale": "en", "timezone": daytime_zone()}
    post_shop(receiver, shop_event("newsletter.subscribed", "c-100", customer=profile))
    confirm = wait_for(
        "the confirmation mail",
        lambda: mail_to(tmp_path, "newsletter_opt_in", "confirm_subscription", address),
    )
    assert consent_of(receiver, "c-100", "email") == "pending"
    assert mail_to(tmp_path, "five_phases", "welcome", address) is None

    # Anna confirms through the link in the mail, on the same service.
    link = link_in(tmp_path / "outbox" / confirm["file"])
    assert link.startswith(f"{receiver.url}/l/")
    assert HTTP.post(link, timeout=15).status_code == 200
    assert consent_of(receiver, "c-100", "email") == "subscribed"
    # The welcome is marketing: it goes out now that the send rules find consent.
    wait_for("the welcome mail", lambda: mail_to(tmp_path, "five_phases", "welcome", address))

    posted = time.monotonic()
    post_shop(receiver, shop_event("order.completed", "c-100", external_id="o-1001"))
    mail = wait_for("the thank-you mail", lambda: thank_you_to(tmp_path, address))
    assert time.monotonic() - posted < 10
    assert mail["customer"] == "c-100"  # from whichever journey thanks first
    assert b"Subject:" in (tmp_path / "outbox" / mail["file"]).read_bytes()
    assert stage_of(receiver, "c-100") == "purchase"

    assert receiver.stop(signal.SIGTERM) == 0
    log = receiver.output()
    assert "POST /webhooks/shop 200" in log  # requests are logged by route, without data
    assert address not in log and "/l/" + link.rsplit("/l/", 1)[1] not in log


def test_an_event_accepted_before_a_crash_is_applied_by_the_next_run(
    tmp_path: Path, start: Callable[..., Running]
) -> None:
    port = free_port()
    env = environment(tmp_path)
    # Processing off, so that the event is certainly still waiting when the process dies.
    receiver = start(tmp_path, ["webhooks", "--port", str(port), "--no-process"], env, port)
    profile = {"email": "ben@example.test", "locale": "de"}
    body = shop_event("order.completed", "c-200", external_id="o-2001", customer=profile)
    assert post_shop(receiver, body).json() == {"received": 1, "new": 1, "duplicates": 0}

    assert receiver.stop(signal.SIGKILL) == -signal.SIGKILL
    waiting = receiver.rows("SELECT external_id, processed_at FROM inbound_event")
    assert waiting == [("o-2001", None)]

    once = subprocess.run(
        [JOURNEYFLOW, "serve", "--once"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert once.returncode == 0, once.stdout + once.stderr
    assert "events 1" in once.stdout
    assert thank_you_to(tmp_path, "ben@example.test") is not None
    assert stage_of(receiver, "c-200") == "purchase"


# --- journeyflow serve: the done-when scenarios ------------------------------------------------


def sendgrid_public_key() -> str:
    der = SENDGRID_KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture(scope="module", autouse=True)
def serve_launched(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Running | None]:
    """`journeyflow serve` started before the module's first test, when any test needs it.

    Its Prefect server takes seconds to come up (on a migrated copy of the database,
    tests/prefect_db.py), half a minute under load; the tests of
    `journeyflow webhooks` run meanwhile.
    """
    if not any("served" in item.fixturenames for item in request.session.items):
        yield None
        return
    tmp = tmp_path_factory.mktemp("serve")
    migrated_home(tmp / "prefect")  # the PREFECT_HOME of environment()
    port = free_port()
    env = environment(
        tmp,
        HUBSPOT_CLIENT_SECRET=HUBSPOT_SECRET,
        # The receiver's token is the account's: SMS then goes through Twilio, here an
        # address where nothing listens (no scenario sends one).
        TWILIO_AUTH_TOKEN=TWILIO_TOKEN,
        TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        TWILIO_FROM_NUMBER="+4930123456",
        JOURNEYFLOW_TWILIO_BASE_URL=f"http://127.0.0.1:{free_port()}",
        JOURNEYFLOW_SMS_STATUS_CALLBACK_URL=f"{PUBLIC_URL}/webhooks/twilio",
        SENDGRID_WEBHOOK_PUBLIC_KEY=sendgrid_public_key(),
        JOURNEYFLOW_PUBLIC_URL=PUBLIC_URL,
    )
    log = tmp / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [JOURNEYFLOW, "serve", "--webhooks-port", str(port)],
            cwd=tmp,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    running = Running(process, f"http://127.0.0.1:{port}", tmp, log)
    try:
        yield running
    finally:
        # SIGTERM: serve pauses its schedules, stops the receiver and the Prefect
        # server it started, and exits normally.
        code = running.stop(signal.SIGTERM, timeout=60)
    assert code == 0, running.output()


@pytest.fixture
def served(serve_launched: Running | None) -> Running:
    """The running `journeyflow serve`: its receiver, its pump and its deployments."""
    assert serve_launched is not None
    running, process = serve_launched, serve_launched.process

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"journeyflow serve exited:\n{running.output()}")
        try:
            return HTTP.get(f"{running.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def serving() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"journeyflow serve exited:\n{running.output()}")
        return SERVING in running.output()

    wait_for("journeyflow serve's receiver answering", healthy, timeout=60)
    # The scenarios run against the whole service: Prefect's server up, the deployments
    # served (the receiver does not wait for them).
    wait_for("journeyflow serve's deployments served", serving, timeout=90)
    return running


def test_serve_publishes_every_source_and_its_openapi_description(served: Running) -> None:
    health = HTTP.get(f"{served.url}/healthz").json()
    assert health["sources"] == ["hubspot", "sendgrid", "shop", "twilio"]
    paths = HTTP.get(f"{served.url}/openapi.json").json()["paths"]
    assert {"/webhooks/hubspot", "/webhooks/twilio", "/webhooks/sendgrid"} <= set(paths)


def hubspot_headers(url: str, body: bytes) -> dict[str, str]:
    """HubSpot v3: base64 HMAC-SHA256 of method + URL + body + timestamp (ms)."""
    timestamp = str(int(time.time() * 1000))
    message = b"POST" + url.encode() + body + timestamp.encode()
    mac = hmac.new(HUBSPOT_SECRET.encode(), message, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "X-HubSpot-Signature-v3": base64.b64encode(mac).decode(),
        "X-HubSpot-Request-Timestamp": timestamp,
    }


def test_a_hubspot_lifecycle_change_moves_the_customer_and_sends_the_stage_action(
    served: Running,
) -> None:
    now_ms = int(time.time() * 1000)
    contact = {"subscriptionId": 7, "portalId": 62515, "appId": 54321, "objectId": 901}
    change = {"subscriptionType": "contact.propertyChange", "changeSource": "CRM_UI"}
    body = json.dumps(
        [
            {**contact, **change, "eventId": 1, "occurredAt": now_ms - 1000}
            | {"propertyName": "email", "propertyValue": "carla@example.test"},
            {**contact, **change, "eventId": 2, "occurredAt": now_ms}
            | {"propertyName": "lifecyclestage", "propertyValue": "customer"},
        ]
    ).encode()
    url = f"{PUBLIC_URL}/webhooks/hubspot"
    response = served.post("/webhooks/hubspot", body, hubspot_headers(url, body))
    assert response.status_code == 200, response.text
    assert response.json()["new"] == 2

    mail = wait_for("the thank-you mail", lambda: thank_you_to(served.tmp, "carla@example.test"))
    assert mail["customer"] == "901"
    assert stage_of(served, "901") == "purchase"
    assert "carla@example.test" not in served.output()


def test_a_twilio_stop_stops_sms_to_that_customer_at_once(served: Running) -> None:
    phone = "+4915112345678"
    post_shop(served, shop_event("account.created", "c-300", customer={"phone": phone}))
    wait_for(
        "the customer stored",
        lambda: served.rows("SELECT id FROM customer WHERE external_id = 'c-300'"),
    )

    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": "AC" + "0" * 32,
        "From": phone,
        "To": "+4930123456",
        "Body": "Stop",
        "NumMedia": "0",
    }
    url = f"{PUBLIC_URL}/webhooks/twilio"
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(url, form)
    response = served.post(
        "/webhooks/twilio",
        urlencode(form).encode(),
        {"content-type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature},
    )
    assert response.status_code == 200, response.text
    # At once: the consent changed in the transaction that stored the message.
    assert consent_of(served, "c-300", "sms") == "unsubscribed"


def test_a_sendgrid_bounce_suppresses_the_address(served: Running) -> None:
    address = "dora@example.test"
    post_shop(served, shop_event("account.created", "c-400", customer={"email": address}))
    wait_for(
        "the customer stored",
        lambda: served.rows("SELECT id FROM customer WHERE external_id = 'c-400'"),
    )

    event = {
        "email": address,
        "timestamp": int(time.time()),
        "event": "bounce",
        "type": "bounce",
        "reason": "550 5.1.1 The email account that you tried to reach does not exist",
        "sg_event_id": "ev-" + uuid.uuid4().hex,
        "sg_message_id": "abc123.filter0001.1.0",
    }
    payload = json.dumps([event])
    timestamp = str(int(time.time()))
    signature = SENDGRID_KEY.sign((timestamp + payload).encode(), ec.ECDSA(hashes.SHA256()))
    response = served.post(
        "/webhooks/sendgrid",
        payload.encode(),
        {
            "content-type": "application/json",
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": timestamp,
        },
    )
    assert response.status_code == 200, response.text
    assert consent_of(served, "c-400", "email") == "suppressed"
