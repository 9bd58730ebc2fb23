"""Fixtures for the receiver tests: the real service on 127.0.0.1, a real SQLite store."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from receiver_harness import MakeReceiver, Receiver, serving
from sqlalchemy import Engine

from channels.inbound import Inbox, create_app, parse_receiver_config
from channels.links import LinkSigner
from journeys.store import create_db_engine, create_schema


@pytest.fixture
def store_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def link_signer() -> LinkSigner:
    return LinkSigner("test-link-secret-0123456789", "http://127.0.0.1:8000")


@pytest.fixture
def make_receiver(store_engine: Engine) -> Iterator[MakeReceiver]:
    """`make_receiver(config, env=…, clock=…, signer=…)` starts a receiver for that config."""
    with ExitStack() as stack:

        def make(
            config: Mapping[str, Any],
            *,
            env: Mapping[str, str] | None = None,
            clock: Callable[[], datetime] | None = None,
            signer: LinkSigner | None = None,
        ) -> Receiver:
            stored: list[int] = []
            inbox = Inbox(
                store_engine,
                on_stored=stored.append,
                clock=clock or (lambda: datetime.now(UTC)),
            )
            app = create_app(parse_receiver_config(config, env or {}), inbox, signer=signer)
            url = stack.enter_context(serving(app))
            receiver = Receiver(url, store_engine, inbox, stored)
            stack.callback(receiver.client.close)
            return receiver

        yield make
