"""Fixtures for real Prefect flow runs: one test server per session, tuned to be cheap.

With the defaults a small flow run costs about a second (the heartbeat thread the run
joins on exit) and the server records task runs and events in the background; with
the settings below a run costs about 0.1 s. The heartbeat can only be switched off in
Python (its environment variable cannot express "off").
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from journeys.config import PROJECT_ROOT
from journeys.store import dispose_engines

# Channels must write to the outbox folder whatever the developer's shell configures.
_PROVIDER_VARS = (
    "SENDGRID_API_KEY",
    "TWILIO_ACCOUNT_SID",
    "TWILIO_AUTH_TOKEN",
    "TWILIO_FROM_NUMBER",
    "TWILIO_MESSAGING_SERVICE_SID",
    "JOURNEYFLOW_WEBHOOK_SECRET",
)


def _drop_prefect_exit_hooks_in_child() -> None:
    """Prefect 3.8.8 resets its background services in a forked child but leaves their
    thread-exit hooks, which then fail an assertion: every fork after a flow run exits
    with code 1. Tests elsewhere in the suite fork (multiprocessing), so forked
    children forget those hooks; the services are dead there anyway."""
    from prefect._internal.concurrency.services import _QueueServiceBase

    def prefects(hook: object) -> bool:
        bound = getattr(hook, "func", hook)  # threading keeps them as partials
        return isinstance(getattr(bound, "__self__", None), _QueueServiceBase)

    hooks = getattr(threading, "_threading_atexits", None)
    if hooks:
        hooks[:] = [hook for hook in hooks if not prefects(hook)]


# Module-scoped: only test_jobs uses it, and an idle test server still takes CPU
# from the tests that run after it.
@pytest.fixture(scope="module")
def prefect_harness() -> Iterator[None]:
    import prefect.testing.utilities as harness
    from prefect.settings import (
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY,
        PREFECT_SERVER_ANALYTICS_ENABLED,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS,
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED,
        PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED,
        PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED,
        temporary_settings,
    )
    from prefect.testing.utilities import prefect_test_harness
    from prefect_db import migrated_template

    def migrated_folder() -> str:
        # The harness keeps its database as prefect-test.db in a folder of its own:
        # a migrated copy there spares its server the migration (tests/prefect_db.py).
        folder = tempfile.mkdtemp(prefix="prefect-harness-")
        shutil.copyfile(migrated_template(), Path(folder) / "prefect-test.db")
        return folder

    os.register_at_fork(after_in_child=_drop_prefect_exit_hooks_in_child)
    fast = {
        PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None,
        PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED: False,
        PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED: False,
        PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED: False,
        PREFECT_SERVER_ANALYTICS_ENABLED: False,
        PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS: 180,
    }
    with (
        pytest.MonkeyPatch.context() as mp,
        temporary_settings(updates=fast),
    ):
        mp.setenv("DO_NOT_TRACK", "1")
        mp.setattr(harness, "mkdtemp", migrated_folder)
        # Under load (2 cores, every test process busy) the test server can take well
        # over the default 30 s to answer its first health check; a slow start is no
        # failure of the code under test.
        with prefect_test_harness(server_startup_timeout=180):
            yield


@pytest.fixture
def jobs_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh SQLite file, an outbox folder and the five_phases journey; yields tmp_path."""
    from flows import runtime

    journeys = tmp_path / "journeys"
    journeys.mkdir()
    shutil.copy(PROJECT_ROOT / "journeys" / "definitions" / "five_phases.yaml", journeys)
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", f"sqlite:///{tmp_path / 'journeyflow.db'}")
    monkeypatch.setenv("JOURNEYFLOW_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("JOURNEYFLOW_JOURNEYS", str(journeys))
    monkeypatch.setenv("JOURNEYFLOW_LINK_SECRET", "a-test-secret-of-32-characters!!")
    for var in _PROVIDER_VARS:
        monkeypatch.delenv(var, raising=False)
    runtime.forget()
    yield tmp_path
    runtime.forget()
    dispose_engines()
