"""Fixtures for journey tests; the factories themselves live in jf_factories.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jf_factories import Driver, DriverFactory, build_journey, post_purchase, write_file

from journeys.model import Journey


@pytest.fixture
def journey_factory() -> Callable[..., Journey]:
    """build_journey(yaml_or_data, **top_level_changes) -> Journey."""
    return build_journey


@pytest.fixture
def post_purchase_journey() -> Journey:
    return post_purchase()


@pytest.fixture
def make_driver(post_purchase_journey: Journey) -> DriverFactory:
    """A driver for one customer; the post-purchase journey unless told otherwise."""

    def make(
        journey: Journey | None = None,
        customer_id: str = "c1",
        attributes: dict[str, Any] | None = None,
        **profile: Any,
    ) -> Driver:
        return Driver(
            journey or post_purchase_journey,
            customer_id=customer_id,
            profile={"country": "DE", "locale": "de", **profile},
            attributes=dict(attributes or {}),
        )

    return make


@pytest.fixture
def driver(make_driver: DriverFactory) -> Driver:
    return make_driver()


@pytest.fixture
def write_journey(tmp_path: Path) -> Callable[[str, str], Path]:
    """write_journey(name, yaml_text) -> path of the file under tmp_path/journeys."""

    def write(name: str, text: str) -> Path:
        return write_file(tmp_path / "journeys", name, text)

    return write
