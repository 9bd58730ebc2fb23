"""Lean local stand-ins for SendGrid and Twilio, in a process of their own.

They answer like the real APIs (SendGrid: ``202 Accepted`` with ``X-Message-Id``;
Twilio: ``201 Created`` with the Message resource, ``sid`` included) over HTTP/1.1
keep-alive, but skip the schema validation of ``tests/channels/channel_fakes.py``, so
that the benchmark measures the sender rather than the fake. ``GET /stats`` tells how
many sends arrived, over how long, and the most within any one second: the rate
the provider saw.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import re
import secrets
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs

TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "bench-auth-token"
SENDGRID_KEY = "SG.bench-key.journeyflow"
_MESSAGES = re.compile(r"^/2010-04-01/Accounts/([^/]+)/Messages\.json$")


def _message_resource(form: dict[str, list[str]]) -> dict[str, Any]:
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
        "status": "accepted" if service and not sender else "queued",
        "subresource_uris": {"media": f"{base}/Media.json"},
        "to": form.get("To", [""])[0],
        "uri": f"{base}.json",
    }


class _Stats:
    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def arrived(self) -> None:
        self.arrivals.append(time.monotonic())

    def report(self) -> dict[str, float]:
        """Count, first to last, and the most sends in any one second (a provider's view)."""
        times, busiest, start = self.arrivals, 0, 0
        for end, at in enumerate(times):
            while at - times[start] >= 1.0:
                start += 1
            busiest = max(busiest, end - start + 1)
        span = times[-1] - times[0] if times else 0.0
        return {"count": len(times), "span": span, "busiest_second": busiest}


def _reply(status: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class _Http(asyncio.Protocol):
    def __init__(self, stats: _Stats) -> None:
        self.stats = stats
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            fields = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                fields[name.strip().lower()] = value.strip()
            length = int(fields.get("content-length", "0"))
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(self.answer(method, target.split("?", 1)[0], body))
            if fields.get("connection", "").lower() == "close":
                self.transport.close()
                self.transport = None

    def answer(self, method: str, path: str, body: bytes) -> bytes:
        if method == "POST" and path == "/v3/mail/send":
            self.stats.arrived()
            return _reply("202 Accepted", {"X-Message-Id": secrets.token_urlsafe(16)})
        if method == "POST" and _MESSAGES.match(path):
            self.stats.arrived()
            resource = _message_resource(parse_qs(body.decode("utf-8")))
            payload = json.dumps(resource).encode()
            return _reply("201 Created", {"Content-Type": "application/json"}, payload)
        if method == "GET" and path == "/stats":
            payload = json.dumps(self.stats.report()).encode()
            return _reply("200 OK", {"Content-Type": "application/json"}, payload)
        if method == "POST" and path == "/reset":
            self.stats.__init__()  # type: ignore[misc]
            return _reply("204 No Content", {})
        return _reply("404 Not Found", {})


def _serve(pipe: Connection) -> None:
    async def main() -> None:
        stats = _Stats()
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _Http(stats), "127.0.0.1", 0)
        pipe.send(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class LocalProviders:
    """The SendGrid and Twilio stand-ins on one port of 127.0.0.1, in a child process."""

    def __init__(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._process = ctx.Process(target=_serve, args=(child,), daemon=True)
        self._process.start()
        self.port: int = parent.recv()
        self.url = f"http://127.0.0.1:{self.port}"

    def _call(self, method: str, path: str) -> bytes:
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path)
            return conn.getresponse().read()
        finally:
            conn.close()

    def reset(self) -> None:
        self._call("POST", "/reset")

    def stats(self) -> tuple[int, float, int]:
        """Since the last reset: sends, seconds from the first to the last, and the most
        sends that arrived within any one second."""
        stats = json.loads(self._call("GET", "/stats"))
        return int(stats["count"]), float(stats["span"]), int(stats["busiest_second"])

    def stop(self) -> None:
        self._process.terminate()
        self._process.join(5)
