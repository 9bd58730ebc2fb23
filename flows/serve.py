"""`journeyflow serve`: every job on its schedule, on one machine, without a worker.

`serve_all` builds the deployments of prefect.yaml from the flows (`.to_deployment`,
same names, schedules, parameters and inbox trigger; a test keeps the two equal) and
hands them to Prefect's `serve`: this process polls the API for scheduled runs and
runs each in a subprocess.

Where the API server comes from. `serve` needs a real Prefect server: the ephemeral
server Prefect starts on demand runs no scheduler, so no scheduled run would ever be
created. Therefore:

1. If PREFECT_API_URL is set (in the environment or the active Prefect profile), that
   server is used as it is.
2. Otherwise `prefect server start` is started as a child process on 127.0.0.1 with a
   free port, analytics off, its output in var/prefect-server.log, its database the one
   of PREFECT_HOME (default ~/.prefect). `serve_all` waits until /api/health answers,
   points PREFECT_API_URL of this process and of its flow-run subprocesses at it, and
   stops it after serve has stopped. The child runs in its own session, so a Ctrl-C in
   the terminal reaches serve alone: serve must pause its schedules through the server
   before the server goes.

SIGTERM and SIGINT stop serve cleanly (Prefect's runner pauses the schedules and
cancels nothing that already finished); the child server is then terminated, and killed
if it has not stopped within 20 s.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from .cli_options import LEASE_OPTION, lease_of
from .schedules import JOBS, Job

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment

__all__ = ["JOBS", "Job", "deployments", "local_server", "register", "serve_all"]

SERVER_LOG = Path("var/prefect-server.log")
# What makes a local server quiet and cheap on a machine without internet access.
QUIET_SERVER_ENV = {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "DO_NOT_TRACK": "1"}


INBOX_TRIGGER_WINDOW = timedelta(seconds=15)


def deployments(lease: timedelta | None = None) -> list[RunnerDeployment]:
    """The deployments of prefect.yaml, built from the flows for `serve`; `lease`
    replaces the dispatch job's `lease_seconds`."""
    from prefect.events import DeploymentEventTrigger
    from prefect.events.schemas.automations import Posture
    from prefect.schedules import Cron
    from prefect.types.entrypoint import EntrypointType

    from . import jobs

    built = []
    for job in JOBS:
        triggers = []
        if job.inbox_trigger:
            triggers.append(
                DeploymentEventTrigger(
                    match={"prefect.resource.id": jobs.INBOX_RESOURCE},
                    expect={jobs.INBOX_EVENT},
                    posture=Posture.Reactive,
                    threshold=1,
                    within=INBOX_TRIGGER_WINDOW,
                    parameters=job.parameters,
                )
            )
        flow = getattr(jobs, job.flow)
        parameters = job.parameters
        if lease is not None and "lease_seconds" in parameters["params"]:
            params = {**parameters["params"], "lease_seconds": lease.total_seconds()}
            parameters = {**parameters, "params": params}
        built.append(
            flow.to_deployment(
                job.name,
                schedules=[Cron(job.cron, timezone=job.timezone)],
                parameters=parameters,
                triggers=triggers or None,
                description=job.description,
                tags=list(job.tags),
                # Importable wherever serve runs: the package is installed.
                entrypoint_type=EntrypointType.MODULE_PATH,
            )
        )
    return built


# --- a local API server ---------------------------------------------------------------------


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_healthy(
    api_url: str, timeout: float, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `<api_url>/health` until it answers 200; raise if the server died or took too long."""
    # Imported here: every command of the command line imports this module.
    import httpx

    deadline = time.monotonic() + timeout
    # One client for all the polls: each new one loads the CA bundle (20 ms of CPU).
    with httpx.Client(timeout=2) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"prefect server exited with code {process.returncode}")
            with suppress(httpx.HTTPError):
                if client.get(f"{api_url}/health").status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"no healthy Prefect server at {api_url} after {timeout:.0f} s")
            time.sleep(0.25)


def stop_process(process: subprocess.Popen[bytes], grace: float = 20) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def local_server(
    *,
    home: Path | None = None,
    log: Path = SERVER_LOG,
    services: bool = True,
    ui: bool = True,
    timeout: float = 60,
) -> Iterator[str]:
    """A `prefect server start` child on 127.0.0.1 and a free port; yields its API URL.

    `home` sets PREFECT_HOME (where its database lives); `services=False` runs the API
    alone (no scheduler), which is all a deployment check needs.
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env.update(QUIET_SERVER_ENV)
    if home is not None:
        env["PREFECT_HOME"] = str(home)
    command = [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--analytics-off"]
    command += [] if services else ["--no-services"]
    command += [] if ui else ["--no-ui"]
    log.parent.mkdir(parents=True, exist_ok=True)
    api_url = f"http://127.0.0.1:{port}/api"
    with log.open("ab") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        try:
            wait_healthy(api_url, timeout, process)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{exc}; see {log}") from None
        yield api_url
    finally:
        stop_process(process)


def configured_api_url() -> str | None:
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url) if url else None


# --- serve -----------------------------------------------------------------------------------


class _Stop(Exception):
    """SIGTERM arrived before Prefect's runner took the signal over."""


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signal.Signals(signum).name)


def serve_all(
    *, limit: int | None = None, server_log: Path = SERVER_LOG, lease: timedelta | None = None
) -> None:
    """Serve every deployment until SIGTERM or SIGINT; start a local server if none is set.

    `limit` caps the flow runs executing at once (default: no cap).
    """
    from prefect import serve
    from prefect.settings import PREFECT_API_URL, temporary_settings

    # Prefect's SIGTERM handler pauses the schedules and exits fine, but calls the async
    # `stop` from sync code and Python warns about the coroutine; nothing is lost.
    warnings.filterwarnings("ignore", "coroutine 'Runner.astop' was never awaited")

    # Until the runner installs its own SIGTERM handler, end as cleanly as on Ctrl-C.
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        api_url = configured_api_url()
        if api_url is not None:
            serve(*deployments(lease), limit=limit)
            return
        with local_server(log=server_log) as url:
            # Flow runs are subprocesses: they read the environment, this process the settings.
            os.environ["PREFECT_API_URL"] = url
            with temporary_settings(updates={PREFECT_API_URL: url}):
                serve(*deployments(lease), limit=limit)
    except (_Stop, KeyboardInterrupt):
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def register(app: typer.Typer) -> None:
    """Add `journeyflow serve` to the command line."""

    @app.command(name="serve")
    def serve_command(
        limit: Annotated[
            int | None, typer.Option(help="Most flow runs at once (default: no cap)")
        ] = None,
        once: Annotated[
            bool,
            typer.Option(
                "--once", help="Ingest, timers and dispatch once, without Prefect, then exit"
            ),
        ] = False,
        webhooks_host: Annotated[str, typer.Option(help="Address of the receiver")] = "127.0.0.1",
        webhooks_port: Annotated[int, typer.Option(help="Port of the receiver")] = 8000,
        no_webhooks: Annotated[
            bool, typer.Option("--no-webhooks", help="Do not start the webhook receiver")
        ] = False,
        lease: Annotated[float | None, LEASE_OPTION] = None,
    ) -> None:
        """Run ingest, timers, re-engagement and dispatch on their schedules (Ctrl-C stops).

        Starts a local Prefect server unless PREFECT_API_URL is set, and the webhook
        receiver (see `journeyflow webhooks`) unless --no-webhooks.
        """
        from journeys.config import folders_in_use
        from journeys.errors import JourneyflowError

        from . import runtime

        typer.echo(folders_in_use())
        try:
            # The journeys that run, loaded before anything starts: a broken definition
            # or a JOURNEYFLOW_ENABLED_JOURNEYS naming no journey stops here, not in a flow.
            runtime.open_store()
        except JourneyflowError as exc:
            typer.echo(f"journeyflow serve: {exc}", err=True)
            raise typer.Exit(2) from None
        if once:
            from .jobs import run_once

            for step, counts in run_once(lease=lease_of(lease)).items():
                done = ", ".join(f"{k} {n}" for k, n in counts.items() if n)
                typer.echo(f"{step}: {done or 'nothing to do'}")
            return
        if no_webhooks:
            serve_all(limit=limit, lease=lease_of(lease))
            return
        from .webhooks import receiver_running

        with receiver_running(webhooks_host, webhooks_port, lease=lease_of(lease)):
            serve_all(limit=limit, lease=lease_of(lease))
