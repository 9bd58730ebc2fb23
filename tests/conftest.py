"""Settings for the whole suite."""

from __future__ import annotations

import os

import pytest

# Many tests start Python processes (dispatchers killed in crash storms, the CLI, Prefect
# servers and workers, a fresh venv). Where the environment forbids bytecode caches,
# each of them would compile every module it imports again, a second or more each:
# let them cache (the folders are ignored by git).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)


# The files that take longest, longest first. The suite runs on two workers a file at a
# time (`--dist loadfile --no-loadscope-reorder`), in collection order: a long file that
# started last would keep one worker busy while the other has nothing left to do.
_LONG_FIRST = (
    "tests/test_wheel.py",
    "tests/flows/test_crash_storm.py",
    "tests/flows/test_jobs.py",
    "tests/journeys/store/outbox/test_store_promo.py",
    "tests/flows/test_demo.py",
    "tests/flows/test_webhooks_e2e.py",
    "tests/channels/inbound/test_inbound_sendgrid.py",
    "tests/flows/scenarios/test_shipped_scenarios.py",
    "tests/flows/test_exactly_once.py",
    "tests/channels/inbound/test_inbound_hostile.py",
    "tests/channels/inbound/test_inbound_twilio.py",
    "tests/channels/test_visual_emails.py",
    "tests/flows/simulation/test_shipped_model.py",
    "tests/flows/test_migrate_kills.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(_LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))
