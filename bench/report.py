"""Report benchmark: the full report over a large store, against the bare sqlite3 floor.

    python -m bench.report [--customers 100000] [--transitions 1000000] [--small 10]

A generator (`bench.report_data`) fills a SQLite store with the customers, their stage
transitions and, in proportion, messages, provider reports, survey answers, orders,
reviews and promo codes. Then, in a fresh process per store (so that its memory is its
own): the floor (`bench.report_floor`: one plain aggregate query per figure with
`sqlite3`), and the full report (`build_report` + `ab_results` + the journey map's
counts) over the same file for the same year, each timed once with the file in the
page cache. The goal is a report within 3 × the floor. Both must give the same
figures: the run compares their totals and fails if any differs.

Memory: the report runs a second time under tracemalloc (the peak of Python's
allocations), and the process's peak resident size is printed (Linux's VmHWM: unlike
ru_maxrss it does not carry over the parent's size across exec); both are measured on
a store `--small` times smaller too, to show they do not grow with it.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from journeys.store import create_db_engine, session_scope
from journeys.store.abtests import ab_results
from journeys.store.reports import build_report
from journeys.store.state.map_counts import map_counts

from . import report_floor
from .report_data import JOURNEY, fill

SINCE, UNTIL = datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC)
GOAL = 3.0


def full_report(path: Path) -> tuple[Any, Any, Any]:
    """What `journeyflow report` and the HTML page compute: report, A/B tests, map counts."""
    engine = create_db_engine(f"sqlite:///{path}")
    try:
        with session_scope(engine, readonly=True) as session:
            report = build_report(session, None, SINCE, UNTIL)
            tests = ab_results(session, None, SINCE, UNTIL)
            counts = map_counts(session, JOURNEY)
        return report, tests, counts
    finally:
        engine.dispose()


def report_figures(report: Any, tests: Any, counts: Any) -> dict[str, Any]:
    """The totals `report_floor.figures` computes, read from the report."""
    whole = next(r for r in report.retention if r.journey is None)
    (test,) = tests
    return {
        "entered": sum(s.entered for s in report.stages),
        "in stage": sum(s.in_stage for s in report.stages),
        "moved": sum(e.moved for e in report.edges),
        "median left per stage": {
            t.stage: t.median_s
            for t in sorted(report.time_in_stage, key=lambda t: t.stage)
            if t.population == "left"
        },
        "survey answers": sum(r.answers for r in (*report.csat, *report.nps) if r.journey is None),
        "CRR S/E/N": (whole.at_start, whole.at_end, whole.new),
        "reviews": sum(r.reviews for r in report.ratings if r.journey is None),
        "requests answered": sum(r.answered for r in report.review_requests),
        "codes issued/redeemed": (
            sum(p.issued for p in report.promos),
            sum(p.redeemed for p in report.promos),
        ),
        "sent/delivered/opened/clicked": tuple(
            sum(getattr(m, f) for m in report.messages)
            for f in ("sent", "delivered", "opened", "clicked")
        ),
        "sent per day": sum(d.sent for d in report.messages_by_day),
        "A/B recipients/conversions": sorted(
            (a.variant, a.recipients, a.conversions) for a in test.arms
        ),
        "map moves": sum(counts[1].values()),
    }


def _peak_rss_mb() -> float:
    """This process's peak resident size: VmHWM where /proc has it, else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _warm(path: Path) -> None:
    """Read the file once: both sides then find it in the page cache."""
    with path.open("rb") as f:
        while f.read(1 << 24):
            pass


def measure(path: Path) -> dict[str, Any]:
    """In this (fresh) process: the floor, the report, and the report's memory."""
    _warm(path)
    started = time.perf_counter()
    rows = report_floor.run(str(path), SINCE, UNTIL)
    floor = time.perf_counter() - started
    started = time.perf_counter()
    report, tests, counts = full_report(path)
    took = time.perf_counter() - started
    tracemalloc.start()
    full_report(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ours, theirs = report_figures(report, tests, counts), report_floor.figures(rows)
    theirs["A/B recipients/conversions"] = sorted(theirs["A/B recipients/conversions"])
    differ = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
    return {
        "floor_s": floor,
        "report_s": took,
        "python_peak_mb": peak / 2**20,
        "max_rss_mb": _peak_rss_mb(),
        "differ": {k: [str(a), str(b)] for k, (a, b) in differ.items()},
        "figures": {k: str(v) for k, v in ours.items()},
    }


def _child(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.report", "--measure", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.report", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--transitions", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10, help="the second store is this × smaller")
    parser.add_argument("--dir", type=Path, help="keep the stores here (default: a temp folder)")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-report-") as scratch:
        folder = args.dir or Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        sizes = [(args.customers, args.transitions)]
        sizes.append((args.customers // args.small, args.transitions // args.small))
        results = []
        for customers, transitions in sizes:
            path = folder / f"report-{customers}.db"
            started = time.perf_counter()
            written = fill(path, customers, transitions)
            filled = time.perf_counter() - started
            rows = sum(written.values())
            print(
                f"store: {customers:,} customers, {written['transition']:,} transitions, "
                f"{rows:,} rows in all ({', '.join(f'{k} {n:,}' for k, n in written.items())}); "
                f"filled in {filled:.1f} s ({rows / filled:,.0f} rows/s), "
                f"{path.stat().st_size / 2**20:,.0f} MB"
            )
            result = _child(path)
            results.append(result)
            ratio = result["report_s"] / result["floor_s"]
            verdict = "met" if ratio <= GOAL else "MISSED"
            print(
                f"  floor (bare sqlite3 aggregates): {result['floor_s']:.2f} s · full report "
                f"(build_report + ab_results + map counts): {result['report_s']:.2f} s · "
                f"{ratio:.2f} × the floor (goal ≤ {GOAL:g} ×: {verdict})"
            )
            print(
                f"  memory: Python peak {result['python_peak_mb']:.1f} MB (tracemalloc), "
                f"process peak {result['max_rss_mb']:.0f} MB (resident)"
            )
            if result["differ"]:
                print(f"  FIGURES DIFFER from the floor's: {result['differ']}")
                raise SystemExit(1)
            print("  same figures as the floor: " + "; ".join(
                f"{k} {v}" for k, v in result["figures"].items() if k != "median left per stage"
            ))  # fmt: skip
        big, small = results
        print(
            f"memory at {args.small} × the store: Python peak "
            f"{big['python_peak_mb'] / small['python_peak_mb']:.2f} ×, process peak "
            f"{big['max_rss_mb'] / small['max_rss_mb']:.2f} ×"
        )


if __name__ == "__main__":
    main()
