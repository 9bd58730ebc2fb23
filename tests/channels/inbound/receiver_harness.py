"""The receiver under test: the real service on 127.0.0.1 (uvicorn), a real store."""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine, text

from channels.inbound import Inbox

# The clients' TLS settings, made once: each new httpx client would load the CA bundle
# again (20 ms of CPU), and the tests start hundreds of receivers (all plain HTTP).
LOCAL_TLS = ssl.create_default_context()


class _QuickServer(uvicorn.Server):
    """uvicorn, noticing a stop within 5 ms instead of its 100 ms: the tests start and
    stop a server each, hundreds of them."""

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # the date header, once per second
            for _ in range(20):
                await asyncio.sleep(0.005)
                if self.should_exit:
                    break
            counter = (counter + 10) % 864000


@contextmanager
def serving(app: FastAPI) -> Iterator[str]:
    """Run `app` with uvicorn on a free port of 127.0.0.1; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", access_log=False)
    server = _QuickServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the receiver did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Receiver:
    """A running receiver, its store, and what it told the processor."""

    def __init__(self, url: str, engine: Engine, inbox: Inbox, stored: list[int]) -> None:
        self.url = url
        self.engine = engine
        self.inbox = inbox
        self.stored = stored
        self.client = httpx.Client(base_url=url, timeout=10, verify=LOCAL_TLS)

    def post(
        self, path: str, content: bytes, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.client.post(path, content=content, headers=dict(headers or {}))

    def scalar(self, sql: str, **params: Any) -> Any:
        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def rows(self, sql: str, **params: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(text(sql), params).all())


MakeReceiver = Callable[..., Receiver]


# Runs a test on SQLite and, when a server is configured, on PostgreSQL (see conftest).
ON_BOTH_STORES = pytest.mark.parametrize(
    "store_engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
