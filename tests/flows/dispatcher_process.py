"""A dispatcher in a process of its own, for the exactly-once tests.

    python tests/flows/dispatcher_process.py DB_URL SENDGRID_URL NOW [options]

Sends every email due at NOW through the real SendGrid SDK to SENDGRID_URL. It prints
`ready` once everything is imported and connected (so that a kill lands in the
dispatch, not in the imports), with `--wait` waits for a line on stdin, then prints
one JSON line with the summary. The tests run `main` in processes forked from the fork
server (`forked.py`), talking over a pipe (`link`) instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from forked import Talk  # noqa: E402  (this folder: the script's own, or the tests')

from channels.email_sendgrid import SendGridChannel  # noqa: E402
from channels.links import LinkSigner  # noqa: E402
from channels.render import Renderer  # noqa: E402
from flows.dispatch import allow_all, dispatch_due  # noqa: E402
from journeys.config import templates_dir  # noqa: E402
from journeys.store import JourneyRegistry, create_db_engine  # noqa: E402

SENDGRID_KEY = "SG.test-key.journeyflow"  # what tests/channels/channel_fakes.py accepts
LINK_SECRET = "exactly-once-secret-0123456789ab"


def main(argv: list[str] | None = None, link: Connection | None = None) -> None:
    talk = Talk(link)
    parser = argparse.ArgumentParser()
    parser.add_argument("db_url")
    parser.add_argument("sendgrid_url")
    parser.add_argument("now", type=datetime.fromisoformat)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--lease", type=float, default=2.0, help="seconds")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=20.0, help="SendGrid read timeout")
    parser.add_argument("--max-attempts", type=int, default=5)
    parser.add_argument("--worker", default=None)
    parser.add_argument(
        "--wait", action="store_true", help="after `ready`, start on a line from stdin"
    )
    args = parser.parse_args(argv)

    engine = create_db_engine(args.db_url)
    channel = SendGridChannel(SENDGRID_KEY, base_url=args.sendgrid_url, timeout=args.timeout)
    renderer = Renderer(templates_dir(), LinkSigner(LINK_SECRET, "https://shop.example"))
    with engine.connect():  # connect before `ready`: the kill should hit the dispatch
        pass
    talk.say("ready")
    if args.wait:
        # Started ahead of time, so that its start-up (mostly imports) costs no test time.
        talk.wait()
    summary = dispatch_due(
        engine,
        JourneyRegistry(),
        {"email": channel},
        renderer,
        args.now,
        batch_size=args.batch_size,
        lease=timedelta(seconds=args.lease),
        worker=args.worker,
        policy=allow_all,
        max_attempts=args.max_attempts,
        concurrency=args.concurrency,
    )
    report = {
        "claimed": summary.claimed,
        "outcomes": dict(summary.outcomes),
        "recovered": dict(summary.recovered),
        "stale": summary.stale,
        "batches": summary.batches,
    }
    talk.say(json.dumps(report))
    engine.dispose()


if __name__ == "__main__":
    main()
