"""A dispatcher on the production path, in a process of its own, for the crash storms.

    python tests/flows/production_dispatcher.py DB_URL SENDGRID_URL JOURNEYS_DIR [options]

What `serve` and the deployments run: the store opened by `flows.runtime` (journeys
registered from JOURNEYS_DIR), the send rules, `runtime.dispatch_batch` drained batch
after batch on a running clock, the real SendGrid SDK pointed at SENDGRID_URL. Like a
served dispatcher it keeps going, pass after pass, until nothing is pending or claimed.

The clock runs `--speed` times faster than the wall clock from `--epoch` on, the same in
every process of a storm, so that leases and retry backoffs (minutes) pass in seconds.
It prints `ready` once everything is imported and connected, with `--wait` waits for a
line on stdin, then prints one JSON line with its summary. The storms run `main` in
processes forked from the fork server (`forked.py`, after importing `HEAVY` once),
talking over a pipe (`link`) instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from forked import Talk  # noqa: E402  (this folder: the script's own, or the tests')

SENDGRID_KEY = "SG.test-key.journeyflow"  # what tests/channels/channel_fakes.py accepts
LINK_SECRET = "exactly-once-secret-0123456789ab"


# What a dispatcher imports: for the fork server to import once.
HEAVY = ("flows.runtime", "channels.email_sendgrid", "channels.links", "channels.render")


def main(argv: list[str] | None = None, link: Connection | None = None) -> None:
    talk = Talk(link)
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("sendgrid_url")
    parser.add_argument("journeys")
    parser.add_argument("--start", type=datetime.fromisoformat, required=True)
    parser.add_argument("--epoch", type=float, required=True, help="wall time of --start")
    parser.add_argument("--speed", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--lease", type=float, default=60.0, help="seconds of the clock")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=20.0, help="SendGrid read timeout")
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--pause", type=float, default=0.05, help="wall seconds between passes")
    parser.add_argument("--deadline", type=float, default=300.0, help="wall seconds at most")
    parser.add_argument("--wait", action="store_true")
    args = parser.parse_args(argv)
    os.environ["JOURNEYFLOW_JOURNEYS"] = args.journeys

    from sqlalchemy import func, select

    from channels.email_sendgrid import SendGridChannel
    from channels.links import LinkSigner
    from channels.render import Renderer
    from flows import runtime
    from journeys.config import templates_dir
    from journeys.store.tables import action_run_t

    def clock() -> datetime:
        return args.start + timedelta(seconds=(time.time() - args.epoch) * args.speed)

    store = runtime.open_store(args.db_url)
    channel = SendGridChannel(SENDGRID_KEY, base_url=args.sendgrid_url, timeout=args.timeout)
    renderer = Renderer(templates_dir(), LinkSigner(LINK_SECRET, "https://shop.example"))
    sender = runtime.Sender({"email": channel}, renderer)
    open_rows = select(func.count()).where(action_run_t.c.status.in_(("pending", "claimed")))
    with store.engine.connect():  # connect before `ready`: the kill should hit the dispatch
        pass
    talk.say("ready")
    if args.wait:
        talk.wait()

    totals: dict[str, int] = {"claimed": 0, "stale": 0, "passes": 0}
    outcomes: dict[str, int] = {}
    recovered: dict[str, int] = {}
    ends = time.monotonic() + args.deadline
    while time.monotonic() < ends:
        summary = runtime.drain_outbox(
            lambda: runtime.dispatch_batch(
                store,
                sender,
                clock(),
                batch_size=args.batch_size,
                virtual=False,
                lease=timedelta(seconds=args.lease),
                max_attempts=args.max_attempts,
                concurrency=args.concurrency,
                clock=clock,
            ),
            args.batch_size,
            1_000,
        )
        totals["claimed"] += summary.claimed
        totals["stale"] += summary.stale
        totals["passes"] += 1
        for name, n in summary.outcomes.items():
            outcomes[name] = outcomes.get(name, 0) + n
        for name, n in summary.recovered.items():
            recovered[name] = recovered.get(name, 0) + n
        with store.engine.connect() as conn:
            if not conn.execute(open_rows).scalar_one():
                break
        time.sleep(args.pause)
    talk.say(json.dumps({**totals, "outcomes": outcomes, "recovered": recovered}))
    store.engine.dispose()


if __name__ == "__main__":
    main()
