"""`journeyflow webhooks`: the receiver on uvicorn, with the in-process pump.

The receiver (channels.inbound) stores every accepted event in the inbox before it
answers; the pump (flows.pump) applies the events and sends what fell due right after.
A crash between the two loses nothing: the next pump pass, `serve --once` or the
scheduled `ingest-events` flow picks the stored events up.

uvicorn's access log is off because link tokens travel in paths; the receiver logs
each request by its route template instead. `journeyflow serve` runs the same receiver
on a thread beside Prefect's runner (`receiver_running`).
"""

from __future__ import annotations

import gc
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from .cli_options import LEASE_OPTION, lease_of

if TYPE_CHECKING:
    import uvicorn
    from fastapi import FastAPI

    from journeys.tracking import TrackingPlan

    from .pump import InboxPump

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
_LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@dataclass
class ReceiverService:
    """The app for the configured store, and its pump (None with processing off)."""

    app: FastAPI
    pump: InboxPump | None


def build_receiver(*, process: bool = True, lease: timedelta | None = None) -> ReceiverService:
    """The receiver for JOURNEYFLOW_DATABASE_URL and webhooks.yaml (or JOURNEYFLOW_WEBHOOKS).

    The store is made ready (schema, journeys) and the channels are built before the
    first request, so a misconfiguration stops the start instead of a later pass.
    """
    from channels.inbound import Inbox, create_app, load_receiver_config
    from channels.links import LinkSigner

    from . import runtime
    from .pump import InboxPump

    config = load_receiver_config()
    store = runtime.open_store()
    from .pump import PumpSettings

    settings = PumpSettings.from_jobs(lease)
    pump = InboxPump(store, runtime.open_sender(), settings=settings) if process else None
    inbox = Inbox(store.engine, on_stored=pump.wake if pump else None, plan=_plan())
    app = create_app(config, inbox, signer=LinkSigner.from_env())
    app.state.registry = store.registry  # the people API's journey commands
    return ReceiverService(app, pump)


def _plan() -> TrackingPlan | None:
    """The tracking plan beside the journeys the service runs (None without one)."""
    from journeys.config import definitions_dir
    from journeys.tracking import load_plan

    return load_plan(definitions_dir())


def _uvicorn_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    import uvicorn

    # log_config=None: uvicorn leaves logging alone (Prefect's, in serve, stays intact).
    config = uvicorn.Config(
        app, host=host, port=port, access_log=False, log_config=None, server_header=False
    )
    return uvicorn.Server(config)


def freeze_startup_objects() -> None:
    """Take what startup built (modules, app, store) out of the garbage collector's sight.

    It lives as long as the process; left in view, every full collection walks it, and
    each such pass (about one a second under load) stalls all requests in flight for
    ~90 ms instead of ~10 ms: the receiver's p99 (see bench/webhooks.py).
    """
    gc.collect()
    gc.freeze()


def log_to_stderr() -> None:
    """journeyflow's and uvicorn's messages at INFO on stderr, unless already handled."""
    for name in ("journeyflow", "uvicorn"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(_LOG_FORMAT))
            logger.addHandler(handler)
            logger.propagate = False


def _summary(service: ReceiverService, host: str, port: int) -> str:
    from journeys.config import folders_in_use

    sources = sorted(service.app.state.sources)
    processing = "on" if service.pump else "off (the scheduled ingest-events flow applies events)"
    return (
        f"receiver on http://{host}:{port} · sources: {', '.join(sources) or 'none'} · "
        f"processing {processing} · OpenAPI at /docs · {folders_in_use()}"
    )


def run_webhooks(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    process: bool = True,
    lease: timedelta | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT; requests in flight finish, then the pump's batch."""
    log_to_stderr()
    service = build_receiver(process=process, lease=lease)
    server = _uvicorn_server(service.app, host, port)
    # uvicorn restores the handlers it found and raises the signal again after its
    # graceful shutdown: with these, that second delivery only ends `run` normally.
    signals: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        signals.append(signum)

    previous = {s: signal.signal(s, note) for s in (signal.SIGTERM, signal.SIGINT)}
    logging.getLogger("journeyflow.webhooks").info(_summary(service, host, port))
    if service.pump:
        service.pump.start()
    freeze_startup_objects()
    try:
        server.run()
    finally:
        if service.pump:
            service.pump.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextmanager
def receiver_running(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    process: bool = True,
    lease: timedelta | None = None,
) -> Iterator[ReceiverService]:
    """The receiver and its pump on threads of this process, for as long as the block runs."""
    from journeys.errors import JourneyflowError

    log_to_stderr()
    try:
        service = build_receiver(process=process, lease=lease)
    except JourneyflowError as exc:  # webhooks.yaml, a channel or the link secret
        typer.echo(f"journeyflow: the webhook receiver cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    server = _uvicorn_server(service.app, host, port)
    thread = threading.Thread(target=server.run, name="webhooks", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the webhook receiver could not listen on {host}:{port}")
        time.sleep(0.05)
    logging.getLogger("journeyflow.webhooks").info(_summary(service, host, port))
    if service.pump:
        service.pump.start()
    try:
        yield service
    finally:
        server.should_exit = True
        thread.join(30)
        if service.pump:
            service.pump.stop()


def register(app: typer.Typer) -> None:
    """Add `journeyflow webhooks` to the command line."""

    @app.command(name="webhooks")
    def webhooks_command(
        host: Annotated[str, typer.Option(help="Address to listen on")] = DEFAULT_HOST,
        port: Annotated[int, typer.Option(help="Port to listen on")] = DEFAULT_PORT,
        process: Annotated[
            bool,
            typer.Option(
                "--process/--no-process",
                help="Apply events and send due actions in this process right away "
                "(off: leave them to the scheduled flows)",
            ),
        ] = True,
        lease: Annotated[float | None, LEASE_OPTION] = None,
    ) -> None:
        """Receive webhooks (webhooks.yaml) and apply them at once (Ctrl-C stops).

        Every accepted event is stored before the answer; OpenAPI at /docs.
        """
        from journeys.errors import JourneyflowError

        try:
            run_webhooks(host, port, process, lease_of(lease))
        except JourneyflowError as exc:  # webhooks.yaml, a channel or the link secret
            typer.echo(f"journeyflow webhooks: {exc}", err=True)
            raise typer.Exit(2) from None
