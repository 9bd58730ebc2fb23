"""Dispatch benchmark: render + send throughput, against a bare sandboxed render.

    python -m bench.dispatch [--messages N]

N customers each have one marketing email due (the shipped `buying_guide` template).
In one run it measures: a bare sandboxed Jinja2 render of that template (the ceiling),
then `dispatch_due` (claim, render, send, record) to the outbox folder, durable (fsync,
as in production) and not, and to a local server answering like SendGrid (the official
SDK over HTTP on 127.0.0.1). Printed as messages/s and as ratios to the bare render.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

from channels.base import Channel
from channels.email_sendgrid import SendGridChannel
from channels.links import LinkSigner
from channels.outbox import OutboxChannel
from channels.render import Renderer
from flows.dispatch import allow_all, dispatch_due
from journeys.config import PROJECT_ROOT, templates_dir
from journeys.loader import parse_journey
from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    session_scope,
)
from journeys.templating import make_environment, render_email, sample_context

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEY = """\
journey: bench_dispatch
version: 1
name: Dispatch benchmark
locale: de
settings:
  sender: {email: service@beispielhandel.de, name: Beispielhandel}
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter: [{email: buying_guide}]
    final: true
"""


def _prepare(folder: Path, n: int) -> tuple[object, Journey]:
    engine = create_db_engine(f"sqlite:///{folder / 'bench.db'}")
    create_schema(engine)
    journey = parse_journey(JOURNEY)[0]
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [journey])
    for start in range(0, n, 1000):
        events = [
            IncomingEvent(
                source="bench",
                external_id=f"e{i}",
                type="account.created",
                customer_id=f"c{i}",
                occurred_at=T0,
                customer={"email": f"kunde{i}@example.org", "first_name": "Max", "locale": "de"},
            )
            for i in range(start, min(n, start + 1000))
        ]
        with session_scope(engine) as session:
            apply_events(session, registry, events, T0)
    return engine, journey


def bare_render(n: int) -> float:
    env = make_environment(templates_dir())
    context = sample_context("de", promo_code=False)
    started = time.perf_counter()
    for _ in range(n):
        render_email(env, "de/buying_guide.email.j2", context)
    return n / (time.perf_counter() - started)


def dispatch_rate(n: int, channels: Callable[[Path], Mapping[str, Channel]]) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        engine, journey = _prepare(folder, n)
        renderer = Renderer(templates_dir(), LinkSigner("bench-secret-0123456789", "https://x"))
        started = time.perf_counter()
        summary = dispatch_due(
            engine,
            [journey],
            channels(folder),
            renderer,
            T0 + timedelta(minutes=1),  # type: ignore[arg-type]
            batch_size=500,
            policy=allow_all,
            concurrency=8,
        )
        seconds = time.perf_counter() - started
        sent = summary.outcomes.get("sent", 0)
        if sent != n:
            raise SystemExit(f"only {sent} of {n} sent: {dict(summary.outcomes)} {summary}")
        return n / seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    n = parser.parse_args(argv).messages

    ceiling = bare_render(n)
    print(f"bare sandboxed render:        {ceiling:9,.0f} messages/s")
    rows = [
        ("outbox, durable (fsync)", lambda d: {"email": OutboxChannel(d / "o", kind="email")}),
        (
            "outbox, no fsync",
            lambda d: {"email": OutboxChannel(d / "o", kind="email", durable=False)},
        ),
    ]
    sys.path.insert(0, str(PROJECT_ROOT / "tests" / "channels"))
    from channel_fakes import SENDGRID_KEY, SendGridFake

    fake = SendGridFake().start()
    rows.append(
        (
            "SendGrid SDK -> local server",
            lambda d: {"email": SendGridChannel(SENDGRID_KEY, base_url=fake.url)},
        )
    )
    try:
        for name, channels in rows:
            rate = dispatch_rate(n, channels)
            print(
                f"dispatch to {name:29s} {rate:9,.0f} messages/s  "
                f"ratio to bare render {rate / ceiling:.3f} (1/{ceiling / rate:.1f})"
            )
    finally:
        fake.stop()
    print("goals: outbox >= 1/4 of the bare render; SendGrid/Twilio >= 1,000 messages/s")


if __name__ == "__main__":
    main()
