"""Orchestration benchmark: what Prefect costs journeyflow, and what batching saves.

    python -m bench.orchestration [--messages N] [--events N] [--naive M]

(a) The same dispatch of N due messages (to the outbox) through the `dispatch-due`
    Prefect flow and through that flow's plain function (`.fn`), each on a fresh
    database: the overhead of the flow run. Goal: at most 5 %.
(b) Events through the `ingest-events` flow, one task run per batch, against a naive
    design of one Prefect flow run per customer event (heartbeat off, its kindest
    setting), per event. Goal: batching at least 100x faster per event.
Prefect runs in its local ephemeral mode; a warm-up flow run starts its server first.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
JOURNEY = """\
journey: bench_orchestration
version: 1
name: Orchestration benchmark
locale: de
settings:
  sender: {email: service@beispielhandel.de}
stages:
  - key: bought
    enter_when: {event: order.completed}
    on_enter: [{email: thank_you, marketing: false}]
    final: true
"""


def _events(prefix: str, n: int) -> list[object]:
    from journeys.store import IncomingEvent

    return [
        IncomingEvent(
            source="bench",
            external_id=f"{prefix}{i}",
            type="order.completed",
            customer_id=f"{prefix}{i}",
            occurred_at=T0,
            customer={"email": f"{prefix}{i}@example.org", "first_name": "Max", "locale": "de"},
        )
        for i in range(n)
    ]


def _use_database(folder: Path, name: str) -> str:
    url = f"sqlite:///{folder / name}"
    os.environ["JOURNEYFLOW_DATABASE_URL"] = url
    return url


def _store(url: str, events: list[object], apply: bool) -> None:
    from flows import runtime
    from journeys.store import apply_events, session_scope, store_events

    store = runtime.open_store(url)
    with session_scope(store.engine) as session:
        if apply:
            apply_events(session, store.registry, events, T0)  # type: ignore[arg-type]
        else:
            store_events(session, events)  # type: ignore[arg-type]


def overhead(folder: Path, n: int) -> tuple[float, float]:
    from flows import jobs

    params = jobs.DispatchParams(now=T0 + timedelta(minutes=1), batch_size=200, max_batches=10_000)
    timings = []
    for name, run in (("flow", jobs.dispatch_due), ("fn", jobs.dispatch_due.fn)):
        url = _use_database(folder, f"dispatch-{name}.db")
        _store(url, _events(f"{name}-", n), apply=True)
        started = time.perf_counter()
        counts = run(params)
        timings.append(time.perf_counter() - started)
        assert counts.get("sent") == n, counts
    return timings[0], timings[1]


def per_event(folder: Path, n: int, naive: int) -> tuple[float, float]:
    from prefect import flow

    from flows import jobs, runtime
    from journeys.store import apply_events, session_scope

    url = _use_database(folder, "ingest.db")
    _store(url, _events("batch-", n), apply=False)
    started = time.perf_counter()
    counts = jobs.ingest_events(jobs.IngestParams(now=T0, batch_size=500, max_batches=10_000))
    batched = (time.perf_counter() - started) / n
    assert counts.get("events") == n, counts

    @flow(name="one-event")
    def one_event(event: dict[str, object]) -> None:
        from journeys.store import IncomingEvent

        store = runtime.open_store(url)
        with session_scope(store.engine) as session:
            apply_events(session, store.registry, [IncomingEvent.model_validate(event)], T0)

    events = [e.model_dump(mode="json") for e in _events("naive-", naive)]  # type: ignore[attr-defined]
    started = time.perf_counter()
    for event in events:
        one_event(event)
    return batched, (time.perf_counter() - started) / naive


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--messages", type=int, default=4000)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--naive", type=int, default=40)
    args = parser.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        os.environ["JOURNEYFLOW_OUTBOX_DIR"] = str(folder / "outbox")
        definitions = folder / "journeys"
        definitions.mkdir()
        (definitions / "bench.yaml").write_text(JOURNEY, encoding="utf-8")
        os.environ["JOURNEYFLOW_JOURNEYS"] = str(definitions)
        from prefect import flow
        from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            flow(name="warm-up")(lambda: None)()  # starts the ephemeral server
            with_flow, plain = overhead(folder, args.messages)
            print(
                f"(a) dispatch of {args.messages} messages: flow {with_flow:.2f} s, "
                f".fn {plain:.2f} s, overhead {100 * (with_flow / plain - 1):+.1f} % (goal <= 5 %)"
            )
            batched, naive = per_event(folder, args.events, args.naive)
            print(
                f"(b) per event: batched flow {batched * 1e3:.3f} ms ({args.events} events), "
                f"one flow run per event {naive * 1e3:.1f} ms ({args.naive} runs): "
                f"{naive / batched:,.0f}x (goal >= 100x)"
            )


if __name__ == "__main__":
    main()
