"""Receiver benchmark: verified webhooks per second on loopback, p50/p95/p99 latency.

    python -m bench.webhooks [--requests N] [--concurrency C] [--baseline] [--http h11]

The receiver runs as `journeyflow webhooks` does, in its own process: uvicorn, one
worker, a `standard_webhooks` source, a SQLite store in a temporary folder (schema
created), no processor, startup objects frozen out of the garbage collector's way.
This process is the load generator: C keep-alive connections (default 32), each
sending pre-built HTTP/1.1 requests and reading the answers by Content-Length, so the
client costs little of the CPU the server needs (see "client µs CPU/req"). Every
request is a realistic event of about 300 bytes with its own webhook id, signed
before the clock starts. `--http auto` takes httptools (and uvloop) when installed.

Runs, each on a fresh store after 300 warm-up requests:
  unique          N events, all new (default N = 5,000);
  50 % duplicates N requests for N/2 events, each sent twice in random order, so
                  copies of the same event are often in flight at the same time.
`--baseline` adds, in the same run: one transaction per request on worker threads
(the inbox before group commit), group commit without gc.freeze, and both of those.

Printed per run: req/s, latency p50/p95/p99, the statuses, the CPU the server and the
client used per request, and the check that the inbox holds exactly the distinct
events and exactly that many answers said `"new":1`. Goal: >= 1,000 req/s with
p99 < 100 ms on 2 cores (checked on the first run). About 15 s, 50 s with --baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import hmac
import importlib.util
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import anyio
import anyio.to_thread
import uvicorn
from sqlalchemy import Engine
from sqlmodel import Session

from channels.inbound import Inbox, create_app, parse_receiver_config
from flows.webhooks import freeze_startup_objects
from journeys.store import create_db_engine, create_schema, session_scope

SOURCE = "shop"
KEY = b"bench-webhook-key-0123456789abcd"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
WARMUP = 300
GOAL_RPS = 1000
GOAL_P99_MS = 100.0

T = TypeVar("T")


# ---------------------------------------------------------------- the server process


class PerRequestInbox(Inbox):
    """The inbox as it was before group commit: a transaction per call on worker threads."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self._threads = anyio.CapacityLimiter(8)

    async def run(self, work: Callable[[Session, datetime], T]) -> T:
        return await anyio.to_thread.run_sync(self._one, work, limiter=self._threads)

    def _one(self, work: Callable[[Session, datetime], T]) -> T:
        with session_scope(self.engine) as session:
            return work(session, self.clock())


def serve(fd: int, database: Path, inbox_kind: str, http: str, freeze: bool) -> None:
    """Run the receiver on the listening socket `fd` (in the child process)."""
    engine = create_db_engine(f"sqlite:///{database}")
    inbox = Inbox(engine) if inbox_kind == "group" else PerRequestInbox(engine)
    config = parse_receiver_config(
        {"sources": {SOURCE: {"kind": "standard_webhooks", "secrets": [SECRET]}}}, {}
    )
    options = uvicorn.Config(
        create_app(config, inbox), http=http, log_level="warning", access_log=False, lifespan="off"
    )
    # Not uvicorn's `fd=`: it takes any inherited socket for a Unix one, so asyncio
    # would leave Nagle on and every answer would wait for a delayed ACK (~40 ms).
    listener = socket.socket(fileno=fd)
    if freeze:
        freeze_startup_objects()  # as `journeyflow webhooks` does before it serves
    uvicorn.Server(options).run(sockets=[listener])


def start_server(
    database: Path, inbox_kind: str, http: str, freeze: bool
) -> tuple[subprocess.Popen[bytes], int]:
    """The receiver in a child process, on a socket bound here (no race for the port)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    listener.set_inheritable(True)
    port = listener.getsockname()[1]
    command = [sys.executable, "-m", "bench.webhooks", "--serve", str(listener.fileno())]
    command += ["--database", str(database), "--inbox", inbox_kind, "--http", http]
    command += [] if freeze else ["--no-freeze"]
    process = subprocess.Popen(command, pass_fds=(listener.fileno(),))
    listener.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as probe:
                probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if probe.recv(64).startswith(b"HTTP/1.1 200"):
                    return process, port
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("the receiver did not start")
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- the load generator


def build_requests(port: int, ids: Sequence[str], now: int) -> list[bytes]:
    """One signed HTTP/1.1 request per webhook id (the same id gives the same request)."""
    made: dict[str, bytes] = {}
    out: list[bytes] = []
    for webhook_id in ids:
        if webhook_id not in made:
            made[webhook_id] = _request(port, webhook_id, now)
        out.append(made[webhook_id])
    return out


def _request(port: int, webhook_id: str, now: int) -> bytes:
    n = int(webhook_id.rsplit("-", 1)[1])
    body = json.dumps(
        {
            "type": "order.completed",
            "customer_id": f"c-{n % 5000:05d}",
            "occurred_at": "2026-03-01T10:15:00Z",
            "data": {
                "order_id": f"o-{n:07d}",
                "total": 129.9,
                "currency": "EUR",
                "items": 3,
                "shipping": "standard",
            },
            "customer": {"email": f"kunde{n}@example.org", "first_name": "Max", "locale": "de"},
        },
        separators=(",", ":"),
    ).encode()
    mac = hmac.new(KEY, f"{webhook_id}.{now}.".encode() + body, hashlib.sha256).digest()
    head = (
        f"POST /webhooks/{SOURCE} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"webhook-id: {webhook_id}\r\n"
        f"webhook-timestamp: {now}\r\n"
        f"webhook-signature: v1,{base64.b64encode(mac).decode()}\r\n\r\n"
    )
    return head.encode() + body


@dataclass
class Load:
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    new: int = 0


async def _connection(port: int, requests: list[bytes], cursor: list[int], load: Load) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while cursor[0] < len(requests):
            request = requests[cursor[0]]
            cursor[0] += 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            load.latencies.append(time.perf_counter() - started)
            load.statuses[int(head[9:12])] += 1
            load.new += b'"new":1' in body
    finally:
        writer.close()


async def _send_all(port: int, requests: list[bytes], concurrency: int) -> Load:
    load = Load()
    cursor = [0]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, requests, cursor, load) for _ in range(concurrency)))
    load.seconds = time.perf_counter() - started
    return load


def send(port: int, requests: list[bytes], concurrency: int) -> Load:
    return asyncio.run(_send_all(port, requests, concurrency))


# ---------------------------------------------------------------- one run


@dataclass
class Result:
    name: str
    load: Load
    server_cpu: float
    client_cpu: float
    distinct: int
    stored: int
    answered_new: int

    def percentile(self, p: float) -> float:
        ordered = sorted(self.load.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    @property
    def rps(self) -> float:
        return len(self.load.latencies) / self.load.seconds

    @property
    def correct(self) -> bool:
        """Every answer 200; the inbox and the answers agree on the distinct events."""
        only_200 = set(self.load.statuses) == {200}
        return only_200 and self.stored == self.distinct == self.answered_new


@dataclass(frozen=True)
class Setup:
    """How the server runs: the inbox (`group` commit or `per-request`), gc.freeze or not."""

    label: str
    inbox: str = "group"
    freeze: bool = True
    http: str = "auto"


def run(setup: Setup, n: int, duplicates: bool, concurrency: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="journeyflow-bench-") as tmp:
        database = Path(tmp) / "store.db"
        engine = create_db_engine(f"sqlite:///{database}")
        create_schema(engine)
        engine.dispose()
        distinct = n // 2 if duplicates else n
        ids = [f"evt-{i}" for i in range(distinct)]
        if duplicates:
            ids = ids + ids[: n - distinct]
            random.Random(7).shuffle(ids)
        process, port = start_server(database, setup.inbox, setup.http, setup.freeze)
        try:
            now = int(time.time())
            warmup = build_requests(port, [f"warm-{i}" for i in range(WARMUP)], now)
            requests = build_requests(port, ids, now)
            warm = send(port, warmup, concurrency)
            server_before, client_before = cpu_seconds(process.pid), time.process_time()
            load = send(port, requests, concurrency)
            server_cpu = cpu_seconds(process.pid) - server_before
            client_cpu = time.process_time() - client_before
        finally:
            process.terminate()
            process.wait(30)
        with sqlite3.connect(database) as db:
            stored = db.execute(
                "SELECT count(DISTINCT external_id) FROM inbound_event WHERE source = ?", (SOURCE,)
            ).fetchone()[0]
            rows = db.execute("SELECT count(*) FROM inbound_event").fetchone()[0]
    if rows != stored:
        raise AssertionError(f"{rows} inbox rows for {stored} distinct events")
    name = f"{setup.label}, {'50 % duplicates' if duplicates else 'unique'}"
    return Result(
        name,
        load,
        server_cpu,
        client_cpu,
        distinct=distinct + WARMUP,
        stored=stored,
        answered_new=load.new + warm.new,
    )


def report(result: Result) -> None:
    load = result.load
    n = len(load.latencies)
    statuses = " ".join(f"{s}x{c}" for s, c in sorted(load.statuses.items()))
    print(
        f"{result.name:<34} {result.rps:7,.0f} req/s  p50 {result.percentile(50):6.1f} ms  "
        f"p95 {result.percentile(95):6.1f} ms  p99 {result.percentile(99):6.1f} ms  [{statuses}]"
    )
    print(
        f"{'':<34} server {result.server_cpu / n * 1e6:5.0f} µs CPU/req, client "
        f"{result.client_cpu / n * 1e6:4.0f} µs CPU/req; inbox {result.stored} distinct of "
        f"{result.distinct} sent (incl. {WARMUP} warm-up), {result.answered_new} answered new: "
        f"{'ok' if result.correct else 'WRONG'}"
    )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--requests", type=int, default=5000, help="requests per run")
    parser.add_argument("--concurrency", type=int, default=32, help="keep-alive connections")
    parser.add_argument(
        "--baseline", action="store_true", help="also run with one transaction per request"
    )
    parser.add_argument("--http", default="auto", help="uvicorn's HTTP implementation")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--database", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--inbox", default="group", help=argparse.SUPPRESS)
    parser.add_argument("--no-freeze", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        serve(args.serve, args.database, args.inbox, args.http, not args.no_freeze)
        return

    print(
        f"{args.requests} requests per run over {args.concurrency} connections; uvicorn, one "
        f"worker, HTTP {_implementation(args.http)}; SQLite store; {os.cpu_count()} cores"
    )
    ours = Setup("group commit", http=args.http)
    runs = [(ours, False), (ours, True)]
    if args.baseline:
        per_request = Setup("transaction per request", inbox="per-request", http=args.http)
        runs += [(per_request, False), (per_request, True)]
        runs += [(Setup("group commit, no gc.freeze", freeze=False, http=args.http), False)]
        before = Setup("before: both", inbox="per-request", freeze=False, http=args.http)
        runs += [(before, False)]
    results = []
    for setup, duplicates in runs:
        result = run(setup, args.requests, duplicates, args.concurrency)
        report(result)
        results.append(result)
    main_run = results[0]
    for other in results[2:]:
        ours_alike = results[1] if "duplicates" in other.name else main_run
        print(
            f"group commit against {other.name}: {ours_alike.rps / other.rps:.2f}x req/s, "
            f"p99 {ours_alike.percentile(99) / other.percentile(99):.2f}x"
        )
    met = main_run.rps >= GOAL_RPS and main_run.percentile(99) < GOAL_P99_MS
    print(
        f"goal >= {GOAL_RPS:,} req/s with p99 < {GOAL_P99_MS:.0f} ms: "
        f"{'met' if met else 'NOT met'} ({main_run.rps:,.0f} req/s, "
        f"p99 {main_run.percentile(99):.1f} ms)"
    )
    if not all(r.correct for r in results):
        sys.exit("an inbox did not hold exactly the distinct events")


def _implementation(http: str) -> str:
    """What uvicorn will use: `auto` takes httptools and uvloop when they are installed."""
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    if http == "auto":
        http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return f"{http}, loop {loop}"


if __name__ == "__main__":
    main()
