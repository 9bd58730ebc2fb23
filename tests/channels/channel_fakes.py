"""Local stand-ins for SendGrid, Twilio and a webhook receiver, on 127.0.0.1.

Each fake answers the way the provider does (status codes, headers, error bodies) and
checks every request it receives against the schema excerpts in ``specs/``, cut from
the providers' official OpenAPI specs. A request that fails the check is answered
with the provider's 400 and recorded in ``violations``; the fixtures fail any test
that leaves violations it did not expect.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import secrets
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from channels.message import OutboundMessage

SPECS = Path(__file__).parent / "specs"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")

FORMATS = FormatChecker()


@FORMATS.checks("phone-number")
def _is_phone_number(value: object) -> bool:
    # E.164, a short code, or a channel address such as whatsapp:+4915123456789
    if not isinstance(value, str):
        return True
    address = value.split(":", 1)[1] if ":" in value else value
    return bool(E164.match(address) or re.fullmatch(r"\d{3,6}", address))


@FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme and parts.netloc)


def load_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SPECS / name).read_text())
    return schema


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with unknown keys refused wherever it lists properties."""
    out = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node:
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out


def problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(body)'}: {error.message}"
        for error in sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    ]


@dataclass
class Reply:
    status: int = 200
    body: bytes | str | dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (read-timeout tests)
    drop: bool = False  # close the connection with a reset instead of answering


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode(), keep_blank_values=True)


class FakeServer:
    """A threaded HTTP server that records, validates and answers requests."""

    name = "fake"

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.violations: list[str] = []
        self.replies: deque[Reply] = deque()  # answers for the next valid requests
        self.hold = 0.0  # seconds every request is held, to observe concurrency
        self.expect_violations = False
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def validate(self, request: Recorded) -> tuple[int, list[str]]:
        """(status, problems): problems are answered with ``status or 400`` and recorded
        as violations; a status without problems (e.g. 401) is answered, not recorded."""
        return 0, []

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply(status, {"error": message})

    def default_reply(self, request: Recorded) -> Reply:
        return Reply(200, {"ok": True})

    def respond(self, request: Recorded) -> Reply:
        status, found = self.validate(request)
        if found:
            with self._lock:
                self.violations.extend(found)
            return self.error_reply(status or 400, "; ".join(found))
        if status:
            return self.error_reply(status, "refused")
        with self._lock:
            scripted = self.replies.popleft() if self.replies else None
        return scripted or self.default_reply(request)

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._release.wait(seconds)

    def enter(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def leave(self) -> None:
        with self._lock:
            self.in_flight -= 1


def _handler_for(server: FakeServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            parts = urlsplit(self.path)
            request = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            server.enter(request)
            try:
                reply = server.respond(request)
                server.wait(max(server.hold, reply.delay))
                if reply.drop:
                    # SO_LINGER 0 turns close() into a TCP reset.
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.close_connection = True
                    return
                payload = reply.body
                if isinstance(payload, dict):
                    payload = json.dumps(payload)
                data = payload.encode() if isinstance(payload, str) else payload or b""
                self.send_response(reply.status)
                if data:
                    self.send_header("Content-Type", "application/json")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                self.close_connection = True  # the client gave up (timeout tests)
            finally:
                server.leave()

        do_GET = do_POST = _serve

    return Handler


# --- SendGrid -------------------------------------------------------------------------

SENDGRID_KEY = "SG.test-key.journeyflow"
_SENDGRID = Draft202012Validator(
    strict(load_schema("sendgrid_mail_send.schema.json")), format_checker=FORMATS
)


def sendgrid_error(status: int, message: str, field: str | None = None) -> Reply:
    return Reply(status, {"errors": [{"message": message, "field": field}]})


def sendgrid_rate_limited(reset_in: float) -> Reply:
    return Reply(
        429,
        {"errors": [{"field": None, "message": "too many requests"}]},
        {
            "X-RateLimit-Limit": "600",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time() + reset_in)),
        },
    )


class SendGridFake(FakeServer):
    """Answers like ``POST https://api.sendgrid.com/v3/mail/send``."""

    name = "sendgrid"

    def validate(self, request: Recorded) -> tuple[int, list[str]]:
        if request.method != "POST" or request.path != "/v3/mail/send":
            return 404, [f"unexpected {request.method} {request.path}"]
        if request.headers.get("authorization") != f"Bearer {SENDGRID_KEY}":
            return 401, []
        if not request.headers.get("content-type", "").startswith("application/json"):
            return 400, ["Content-Type must be application/json"]
        try:
            body = request.json
        except ValueError as exc:
            return 400, [f"body is not JSON: {exc}"]
        return 0, problems(_SENDGRID, body)

    def error_reply(self, status: int, message: str) -> Reply:
        if status == 401:
            return sendgrid_error(
                401, "The provided authorization grant is invalid, expired, or revoked"
            )
        return sendgrid_error(status, message)

    def default_reply(self, request: Recorded) -> Reply:
        message_id = base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")
        return Reply(202, None, {"X-Message-Id": message_id})


# --- Twilio ---------------------------------------------------------------------------

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "test-auth-token"
_TWILIO_SCHEMA = load_schema("twilio_create_message.schema.json")
_TWILIO = Draft202012Validator(strict(_TWILIO_SCHEMA), format_checker=FORMATS)
_ACCOUNT_SID = Draft202012Validator(_TWILIO_SCHEMA["$defs"]["AccountSid"])
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")


def twilio_error(
    status: int, code: int, message: str, headers: dict[str, str] | None = None
) -> Reply:
    body = {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
    return Reply(status, body, headers or {})


def coerce_form(
    form: dict[str, list[str]], schema: dict[str, Any]
) -> tuple[dict[str, Any], list[str]]:
    """Form fields typed as the schema says (form values arrive as strings)."""
    typed: dict[str, Any] = {}
    found: list[str] = []
    for key, values in form.items():
        kind = schema["properties"].get(key, {}).get("type", "string")
        if kind == "array":
            typed[key] = values
            continue
        if len(values) != 1:
            found.append(f"{key}: given {len(values)} times")
        value = values[-1]
        try:
            if kind == "integer":
                typed[key] = int(value)
            elif kind == "number":
                typed[key] = float(value)
            elif kind == "boolean":
                if value.lower() not in ("true", "false"):
                    raise ValueError(value)
                typed[key] = value.lower() == "true"
            else:
                typed[key] = value
        except ValueError:
            found.append(f"{key}: {value!r} is not a {kind}")
    return typed, found


class TwilioFake(FakeServer):
    """Answers like ``POST https://api.twilio.com/2010-04-01/Accounts/{Sid}/Messages.json``."""

    name = "twilio"

    def validate(self, request: Recorded) -> tuple[int, list[str]]:
        match = _MESSAGES.match(request.path)
        if request.method != "POST" or match is None:
            return 404, [f"unexpected {request.method} {request.path}"]
        found = problems(_ACCOUNT_SID, match.group(1))
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return 401, found
        if request.headers.get("content-type", "") != "application/x-www-form-urlencoded":
            found.append("Content-Type must be application/x-www-form-urlencoded")
        typed, bad = coerce_form(request.form, _TWILIO_SCHEMA)
        found += bad + problems(_TWILIO, typed)
        # Documented by Twilio as errors 21602 and 21603, not expressible in the schema.
        if not ({"Body", "MediaUrl", "ContentSid"} & typed.keys()):
            found.append("one of Body, MediaUrl, ContentSid is required")
        if not ({"From", "MessagingServiceSid"} & typed.keys()):
            found.append("one of From, MessagingServiceSid is required")
        return 0, found

    def error_reply(self, status: int, message: str) -> Reply:
        if status == 401:
            return twilio_error(401, 20003, "Authenticate")
        if status == 404:
            return twilio_error(404, 20404, "The requested resource was not found")
        return twilio_error(status, 21601 if "Body" in message else 20001, message)

    def default_reply(self, request: Recorded) -> Reply:
        return Reply(201, message_resource(request.form))


def message_resource(form: dict[str, list[str]], status: str | None = None) -> dict[str, Any]:
    sid = "SM" + secrets.token_hex(16)
    now = format_datetime(datetime.now(UTC))
    service = form.get("MessagingServiceSid", [None])[0]
    sender = form.get("From", [None])[0]
    base = f"/2010-04-01/Accounts/{TWILIO_SID}/Messages/{sid}"
    return {
        "account_sid": TWILIO_SID,
        "api_version": "2010-04-01",
        "body": form.get("Body", [""])[0],
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": sender,
        "messaging_service_sid": service,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": status or ("accepted" if service and not sender else "queued"),
        "subresource_uris": {"media": f"{base}/Media.json"},
        "to": form.get("To", [""])[0],
        "uri": f"{base}.json",
    }


# --- connection failures --------------------------------------------------------------


def refused_port() -> int:
    """A port on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@contextmanager
def unresponsive_port() -> Iterator[int]:
    """A port whose accept queue is full, so a new connect times out.

    The listener takes one pending connection (backlog 0) and never accepts it;
    the kernel then drops further SYNs, which is what an overloaded or firewalled
    host looks like from the client.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(5):
            filler = socket.socket()
            filler.settimeout(0.2)
            try:
                filler.connect(("127.0.0.1", port))
            except OSError:
                filler.close()
                break  # the queue is full: connects now time out
            fillers.append(filler)
        else:
            pytest.skip("this kernel accepts connections beyond the listen backlog")
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


# --- messages -------------------------------------------------------------------------

UNSUBSCRIBE = {
    "List-Unsubscribe": (
        "<https://shop.example/u/tok123>, <mailto:unsubscribe@shop.example?subject=tok123>"
    ),
    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
}
METADATA = {
    "journey": "post_purchase",
    "stage": "evaluation",
    "action": "review_request",
    "customer_id": "cust-42",
    "variant": "B",
    "country": "DE",
}


def make_email(**overrides: Any) -> OutboundMessage:
    fields: dict[str, Any] = {
        "idempotency_key": f"enr-1:evaluation:{secrets.token_hex(4)}",
        "channel": "email",
        "to": "max.mustermann@example.com",
        "subject": "Wie gefällt Ihnen Ihr Laptop?",
        "text": "Hallo Max,\nbitte bewerten Sie Ihren Kauf.",
        "html": "<p>Hallo Max,</p><p>bitte bewerten Sie Ihren Kauf.</p>",
        "from_email": "shop@shop.example",
        "from_name": "Beispiel Shop",
        "reply_to": "service@shop.example",
        "headers": dict(UNSUBSCRIBE),
        "categories": ["post_purchase", "review_request"],
        "metadata": dict(METADATA),
    }
    fields.update(overrides)
    return OutboundMessage(**fields)


def make_sms(**overrides: Any) -> OutboundMessage:
    fields: dict[str, Any] = {
        "idempotency_key": f"enr-2:dormant:{secrets.token_hex(4)}",
        "channel": "sms",
        "to": "0151 23456789",
        "text": "Wir vermissen Sie! 10% mit CODE123. STOP zum Abmelden",
        "metadata": dict(METADATA),
    }
    fields.update(overrides)
    return OutboundMessage(**fields)
