"""Simulation benchmark: simulated events/s against `bench.ingest` in the same run.

    python -m bench.simulate [--customers 100000] [--days 90] [--ingest-events 100000]
                             [--journeys customer_lifecycle,newsletter_opt_in] [--seed 7]
                             [--shards N]

First the simulation: the shipped behaviour model's customers through the journeys
for the days asked (the demo's journeys by default), hour by hour, with the send rules
and the renderer (`flows.simulation`), in stores of their own on temporary SQLite
files, in as many processes as `journeyflow simulate` takes (two shards by default;
`--shards 1` runs it in this process alone). Its events/s are its customers' events
over the time of the run, the merge of the shards' stores included (the figures
computed at the end are timed apart). Its peak memory is every process's peak
(ru_maxrss), summed, read before the baseline runs. Then `bench.ingest`'s own run:
synthetic events through `apply_events` alone, in batches of 1,000, into SQLite, in
this process. Goal: the simulation at least half the ingest's events/s, and at most
300 MB. Both are given in wall-clock time (what a user waits for) and in CPU time
summed over the processes (the work done; on a shared machine the wall clock also
measures the neighbours).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from bench.ingest import pick_journey, run_journeyflow, synthetic_events
from flows.simulation.model import SHIPPED_MODEL, load_model
from flows.simulation.run import Run
from flows.simulation.simulate import Plan, simulate
from journeys import load_journeys

DEMO_SET = "customer_lifecycle,newsletter_opt_in"
MEMORY_GOAL_MB = 300
SPEED_GOAL = 0.5


def _peak_mb() -> float:
    # Linux reports kilobytes.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_simulation(
    keys: list[str], customers: int, days: int, seed: int, shards: int | None = None
) -> dict[str, float]:
    journeys = [j for j in load_journeys() if j.journey in keys]
    missing = set(keys) - {j.journey for j in journeys}
    if missing:
        sys.exit(f"no journey {', '.join(sorted(missing))}")
    model, _ = load_model(SHIPPED_MODEL)
    last = {"cpu": 0.0, "others_mb": 0.0}
    shown = {0}

    def progress(done: Run) -> None:
        # Every process's CPU and the shards' memory come with the last call.
        last["cpu"], last["others_mb"] = done.cpu, done.others_peak_mb
        if len(done.days) not in shown and (len(done.days) % 10 == 0 or len(done.days) == days):
            shown.add(len(done.days))
            print(
                f"  day {len(done.days):3d}: {done.customers:,} customers, {done.events:,} "
                f"events, {done.seconds:,.0f} s",
                flush=True,
            )

    began = time.perf_counter()
    plan = Plan(journeys, model, customers, days, seed)
    results = simulate(plan, progress=progress, shards=shards)
    total = time.perf_counter() - began
    sent = sum(c.n for c in results.sent)
    print(
        f"simulated {results.customers:,} customers over {days} days: {results.events:,} "
        f"events, {sent:,} messages sent ({results.rendered:,} rendered), "
        f"run {results.seconds:,.1f} s, figures {total - results.seconds:,.1f} s"
    )
    return {
        "events": results.events,
        "wall": results.seconds,
        "cpu": last["cpu"],
        # Each process's own peak, summed: at most what they held at once.
        "memory": _peak_mb() + last["others_mb"],
    }


def run_ingest(n: int) -> dict[str, float]:
    journey = pick_journey("five_phases")
    events = synthetic_events(journey, n)
    with tempfile.TemporaryDirectory(prefix="journeyflow-bench-") as tmp:
        began_cpu = time.process_time()
        elapsed, _ = run_journeyflow(journey, events, Path(tmp), 1000)
        cpu = time.process_time() - began_cpu
    print(f"bench.ingest: {n:,} events through apply_events (five_phases), {elapsed:,.1f} s")
    return {"events": n, "wall": elapsed, "cpu": cpu}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.simulate", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--journeys", default=DEMO_SET, help="comma-separated journey keys")
    parser.add_argument("--ingest-events", type=int, default=100_000)
    parser.add_argument("--shards", type=int, default=None, help="processes (default: as simulate)")
    args = parser.parse_args(argv)
    if min(args.customers, args.days, args.ingest_events, args.shards or 1) < 1:
        parser.error("--customers, --days, --ingest-events and --shards must be at least 1")

    print(f"simulation: {args.customers:,} customers, {args.days} days, journeys {args.journeys}")
    keys = args.journeys.split(",")
    sim = run_simulation(keys, args.customers, args.days, args.seed, args.shards)
    ingest = run_ingest(args.ingest_events)

    print()
    print(f"{'':24s} {'wall':>14s} {'CPU':>14s}")
    for name, row in (("simulation events/s", sim), ("bench.ingest events/s", ingest)):
        wall, cpu = row["events"] / row["wall"], row["events"] / max(row["cpu"], 1e-9)
        print(f"{name:24s} {wall:14,.0f} {cpu:14,.0f}")
    verdicts = []
    for clock in ("wall", "cpu"):
        ratio = (sim["events"] / sim[clock]) / (ingest["events"] / ingest[clock])
        ok = "ok" if ratio >= SPEED_GOAL else "below the goal"
        verdicts.append(f"{clock} {ratio:.2f} ({ok})")
    print(f"ratio simulation/ingest (goal >= {SPEED_GOAL}): {'; '.join(verdicts)}")
    ok = "ok" if sim["memory"] <= MEMORY_GOAL_MB else "above the goal"
    print(f"simulation peak memory: {sim['memory']:,.0f} MB (goal <= {MEMORY_GOAL_MB} MB: {ok})")


if __name__ == "__main__":
    main()
