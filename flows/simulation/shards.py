"""A simulation's population split over processes, one store each, made one at the end.

Customers do not meet: what happens to one depends on their own events, consent,
caps and stages, never on another's (`population` draws every customer's life from
their own random stream). So shard k of n (the customers i with i % n == k) runs in
a process and a SQLite store of its own, on the machine's other cores, and the
stores are merged when all are done (`merge`); the figures are then computed over
the one store, as for a run in one process. They are the same for any number of
shards but for the sample the renderer takes (the first messages of each kind are
counted per shard): with every message rendered they are the same exactly (test).

This process runs shard 0 itself; the others are started from multiprocessing's
fork server (a clean process: no thread, no database connection of this one) and
send each simulated day back through a pipe as they finish it, so that the progress
shows the days every shard has done. A shard's error ends the whole simulation with
that error; no shard outlives it.
"""

from __future__ import annotations

import resource
import signal
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ..processes import clean_context, main_left_out
from .defaults import DEFAULT_SHARDS, MIN_SHARD
from .merge import merge_stores
from .part import Plan, run_part, simulation_store
from .run import Day, Progress, Run, SimulationError

# The module shard processes run: imported once by the fork server.
SHARD_MODULE = "flows.simulation.shards"


def shards_for(customers: int, asked: int | None = None) -> int:
    """How many shards a population of `customers` runs in: `asked` (at most one per
    customer), else two, unless a shard would then hold fewer than `MIN_SHARD`
    customers. It depends on the plan, never on the machine: the sampled renderer's
    figures depend on it."""
    if asked is not None:
        return max(1, min(asked, customers))
    return max(1, min(DEFAULT_SHARDS, customers // MIN_SHARD))


@dataclass
class _Shard:
    process: Any
    pipe: Connection
    done: bool = False
    rendered: tuple[int, int] = (0, 0)
    cpu: float = 0.0
    peak_mb: float = 0.0


def run_sharded(
    plan: Plan,
    shards: int,
    engine: Engine,
    folder: Path,
    *,
    templates: Path | None = None,
    progress: Progress | None = None,
) -> tuple[Run, tuple[int, int]]:
    """Run the plan in `shards` shards, shard 0 in `engine` (an empty migrated store)
    and the others in stores in `folder`, which end merged into `engine`'s."""
    began = time.perf_counter()
    paths = [folder / f"shard-{k}.db" for k in range(1, shards)]
    days = _Days(plan, shards, began, progress)
    others = _start(plan, shards, paths, templates)
    try:

        def mine(done: Run) -> None:
            days.add(0, done.days[-1])
            _collect(others, days, block=False)

        own, rendered = run_part(
            plan, engine, shard=(0, shards), templates=templates, progress=mine
        )
        while not all(s.done for s in others):
            _collect(others, days, block=True)
        merge_stores(engine, paths)
    finally:
        for shard in others:
            if shard.process.is_alive():
                shard.process.terminate()
            shard.process.join()
            shard.pipe.close()
    merged = days.run()
    merged.seconds = time.perf_counter() - began
    merged.cpu = own.cpu + sum(s.cpu for s in others)
    merged.others_peak_mb = sum(s.peak_mb for s in others)
    if progress is not None:  # the whole run, merged, with what every process took
        progress(merged)
    counts = [rendered, *(s.rendered for s in others)]
    return merged, (sum(c[0] for c in counts), sum(c[1] for c in counts))


def _start(plan: Plan, shards: int, paths: Sequence[Path], templates: Path | None) -> list[_Shard]:
    context = clean_context(SHARD_MODULE)
    started: list[_Shard] = []
    with main_left_out():
        for k, path in enumerate(paths, start=1):
            receive, send = context.Pipe(duplex=False)
            process = context.Process(
                target=_shard_main,
                args=(send, plan, (k, shards), path, templates),
                name=f"simulation-shard-{k}",
                daemon=True,
            )
            process.start()
            send.close()  # the child's end: this process only reads
            started.append(_Shard(process, receive))
    return started


def _collect(shards: list[_Shard], days: _Days, *, block: bool) -> None:
    """Take what the shards sent (waiting for something if `block`)."""
    open_ = [s for s in shards if not s.done]
    ready = wait([s.pipe for s in open_], timeout=None if block else 0)
    for shard in open_:
        if shard.pipe not in ready:
            continue
        while shard.pipe.poll():
            try:
                kind, k, value = shard.pipe.recv()
            except EOFError:
                raise SimulationError(
                    f"a simulation shard's process ended without its results "
                    f"(exit code {shard.process.exitcode})"
                ) from None
            if kind == "day":
                days.add(k, value)
            elif kind == "done":
                shard.done = True
                shard.rendered, shard.cpu, shard.peak_mb = value
                break
            else:
                raise SimulationError(value)


class _Days:
    """The shards' days as they come, reported as one run when every shard has one."""

    def __init__(self, plan: Plan, shards: int, began: float, progress: Progress | None):
        self.by_shard: list[list[Day]] = [[] for _ in range(shards)]
        self.reported = 0
        self.began = began
        self.progress = progress
        self.start = plan.model.start

    def add(self, shard: int, day: Day) -> None:
        self.by_shard[shard].append(day)
        complete = min(len(d) for d in self.by_shard)
        if self.progress is not None and complete > self.reported:
            self.reported = complete
            done = self.run()
            done.seconds = time.perf_counter() - self.began
            self.progress(done)

    def run(self) -> Run:
        merged = Run(self.start)
        complete = min(len(d) for d in self.by_shard)
        for number in range(complete):
            parts = [d[number] for d in self.by_shard]
            day = Day(parts[0].date)
            for part in parts:
                day.result += part.result
                day.dispatch += part.dispatch
                day.held += part.held
                day.appeared += part.appeared
            merged.days.append(day)
            merged.customers += day.appeared
        return merged


def _shard_main(
    pipe: Connection, plan: Plan, shard: tuple[int, int], path: Path, templates: Path | None
) -> None:
    """A shard's process: its customers in the store at `path`, each day sent back."""
    # Ctrl-C reaches the parent, which ends the shards.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    k = shard[0]
    try:
        with simulation_store(path) as engine:
            done, rendered = run_part(
                plan,
                engine,
                shard=shard,
                templates=templates,
                progress=lambda done: pipe.send(("day", k, done.days[-1])),
            )
        # Linux gives the peak in kilobytes.
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        pipe.send(("done", k, (rendered, done.cpu, peak)))
    except SimulationError as exc:
        pipe.send(("error", k, str(exc)))
    except BaseException as exc:  # the parent reports it: this process has no console
        last = traceback.format_exception_only(exc)[-1].strip()
        pipe.send(("error", k, f"simulation shard {k} failed: {last}"))
    finally:
        pipe.close()
