"""A keep-alive transport for the SendGrid SDK: one persistent connection per thread.

``python_http_client`` (under the ``sendgrid`` SDK) opens a new TCP (and TLS)
connection for every request through urllib. The SDK still builds each request; this
transport only replaces the client's ``_make_request`` hook and sends the request
over a connection the calling thread keeps open.

It keeps urllib's promises the channel's error handling relies on: a failure while
connecting or writing the request raises ``urllib.error.URLError`` (nothing reached
the provider), one while reading the answer raises ``OSError`` or
``http.client.HTTPException`` (it may have), and a 3xx-5xx answer raises the SDK's own
``HTTPError``. A connection the server has closed while idle is noticed before
reuse and replaced, so an idle period does not turn the next send into an unknown.
"""

from __future__ import annotations

import http.client
import io
import select
import threading
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from python_http_client.exceptions import handle_error  # type: ignore[import-untyped]


class _Reply:
    """What ``python_http_client.Response`` reads from a urllib response."""

    def __init__(self, status: int, body: bytes, headers: http.client.HTTPMessage) -> None:
        self._status, self._body, self._headers = status, body, headers

    def getcode(self) -> int:
        return self._status

    def read(self) -> bytes:
        return self._body

    def info(self) -> http.client.HTTPMessage:
        return self._headers


def _dropped(conn: http.client.HTTPConnection) -> bool:
    """Has the server closed this idle connection (or sent something unasked)?"""
    if conn.sock is None:
        return True
    readable, _, _ = select.select([conn.sock], [], [], 0)
    return bool(readable)


class KeepAliveTransport:
    """``_make_request`` for a ``python_http_client.Client``, connections per thread."""

    def __init__(self, base_url: str, timeout: float) -> None:
        parts = urlsplit(base_url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or "localhost"
        self._port = parts.port
        self._timeout = timeout
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []  # to close them from any thread
        self._lock = threading.Lock()

    def _connection(self, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is not None and _dropped(conn):
            self._discard(conn)
            conn = None
        if conn is None:
            cls = http.client.HTTPSConnection if self._https else http.client.HTTPConnection
            conn = cls(self._host, self._port, timeout=timeout)
            try:
                conn.connect()
            except OSError as exc:
                raise urllib.error.URLError(exc) from exc
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        elif conn.sock is not None:
            conn.sock.settimeout(timeout)
        return conn

    def _discard(self, conn: http.client.HTTPConnection) -> None:
        conn.close()
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)

    def make_request(
        self, opener: Any, request: urllib.request.Request, timeout: float | None = None
    ) -> _Reply:
        """Send ``request`` as urllib would, over this thread's connection."""
        conn = self._connection(timeout or self._timeout)
        parts = urlsplit(request.full_url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = dict(request.header_items())
        try:
            conn.request(request.get_method(), target, body=request.data, headers=headers)
        except OSError as exc:
            self._discard(conn)
            raise urllib.error.URLError(exc) from exc
        try:
            response = conn.getresponse()
            body = response.read()
        except BaseException:
            self._discard(conn)
            raise
        if response.will_close:
            self._discard(conn)
        if response.status >= 300:
            error = urllib.error.HTTPError(
                request.full_url, response.status, response.reason, response.msg, io.BytesIO(body)
            )
            refused = handle_error(error)
            refused.__cause__ = None
            raise refused
        return _Reply(response.status, body, response.msg)

    def close(self) -> None:
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            conn.close()
