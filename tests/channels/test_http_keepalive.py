"""The SendGrid SDK's keep-alive transport: connections reused, idle closes survived."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from channel_fakes import SENDGRID_KEY, make_email

from channels import SendGridChannel


class _Server(ThreadingHTTPServer):
    connections = 0
    close_after = 0  # close each connection after this many answers (0: never)
    say_so = True  # announce the close with `Connection: close`


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.connections += 1
        self.answered = 0

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.answered += 1
        closing = self.server.close_after and self.answered >= self.server.close_after
        self.send_response(202)
        self.send_header("X-Message-Id", f"id-{self.answered}")
        self.send_header("Content-Length", "0")
        if closing and self.server.say_so:
            self.send_header("Connection", "close")
        self.end_headers()
        if closing:
            self.close_connection = True


@pytest.fixture
def server() -> Iterator[_Server]:
    httpd = _Server(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _channel(server: _Server) -> SendGridChannel:
    return SendGridChannel(SENDGRID_KEY, base_url=f"http://127.0.0.1:{server.server_port}")


def test_one_connection_carries_many_sends(server: _Server) -> None:
    channel = _channel(server)
    results = [channel.send(make_email()) for _ in range(5)]
    assert [r.status for r in results] == ["sent"] * 5
    assert [r.provider_message_id for r in results] == [f"id-{i}" for i in range(1, 6)]
    assert server.connections == 1
    channel.close()


def test_a_connection_the_server_closes_is_not_used_again(server: _Server) -> None:
    server.close_after = 2
    channel = _channel(server)
    results = [channel.send(make_email()) for _ in range(5)]
    assert [r.status for r in results] == ["sent"] * 5
    assert server.connections == 3
    channel.close()


def test_an_idle_connection_the_server_dropped_is_replaced(server: _Server) -> None:
    server.close_after, server.say_so = 1, False  # as an idle timeout would, unannounced
    channel = _channel(server)
    results = []
    for _ in range(3):
        results.append(channel.send(make_email()))
        time.sleep(0.2)  # idle: the server's close has arrived before the next send
    assert [r.status for r in results] == ["sent"] * 3  # never `unknown` for a stale socket
    assert server.connections == 3
    channel.close()
