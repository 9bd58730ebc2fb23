"""Fixtures for the channel tests: provider fakes that fail a test on stray violations."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import pytest
from channel_fakes import FakeServer, SendGridFake, TwilioFake

from flows.headless import Browser, find_chromium

F = TypeVar("F", bound=FakeServer)


@contextmanager
def serving(fake: F) -> Iterator[F]:
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()
    if not fake.expect_violations:
        assert fake.violations == [], f"{fake.name} saw requests its spec forbids"


@pytest.fixture
def sendgrid_fake() -> Iterator[SendGridFake]:
    with serving(SendGridFake()) as fake:
        yield fake


@pytest.fixture
def twilio_fake() -> Iterator[TwilioFake]:
    with serving(TwilioFake()) as fake:
        yield fake


@pytest.fixture
def receiver() -> Iterator[FakeServer]:
    """A plain webhook receiver answering 200."""
    with serving(FakeServer()) as fake:
        yield fake


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium for a module's pages (the distribution's, as CI installs it)."""
    if find_chromium() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true but Chromium is not installed (.ci/run installs it)")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with Browser() as opened:
        yield opened
