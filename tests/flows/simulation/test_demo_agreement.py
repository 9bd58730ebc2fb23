"""The simulation and the demo share one path, not two models of the rules.

The demo's own events (a slice of the bundled sample: its first customers, with their
profiles and consent) go through the demo (`run_demo`: outbox folder, the demo's
replay) and through the simulation's runner (the sample as a `Stream`, the demo's
cadence: a day at a time, dispatched at 10:00 the next morning; counting channels,
every message rendered). Where their figures overlap they must be equal: stage
populations and entries, sends per template, skips by reason.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from flows.demo import DemoReport, run_demo
from flows.events_file import read_events_file
from flows.importing import import_file
from flows.replay import RUN_ON, by_day, replay_renderer
from flows.sample_data import SAMPLE_PATH
from flows.sample_people import SAMPLE_CONSENT, SAMPLE_CUSTOMERS
from flows.simulation.counting import CountingRules, counting_channels
from flows.simulation.rendering import SampledRenderer
from flows.simulation.results import Results, collect
from flows.simulation.run import DEMO_CADENCE, Stream, run
from flows.simulation.simulate import simulation_store
from journeys.model import Journey
from journeys.store import JourneyRegistry, create_db_engine, session_scope
from journeys.store.tables import action_run_t

CUSTOMERS = 60  # the first of the sample's 300: every persona is among them


def _slice(folder: Path) -> tuple[Path, Path, Path]:
    """The sample's events, customers and consent of its first CUSTOMERS customers."""
    keep = {f"cust-{n:05d}" for n in range(1, CUSTOMERS + 1)}
    events = folder / "events.jsonl"
    with SAMPLE_PATH.open(encoding="utf-8") as src, events.open("w", encoding="utf-8") as out:
        out.writelines(line for line in src if json.loads(line)["customer_id"] in keep)
    files = []
    for source, column in ((SAMPLE_CUSTOMERS, "id"), (SAMPLE_CONSENT, "customer_id")):
        target = folder / source.name
        with source.open(encoding="utf-8", newline="") as src:
            rows = list(csv.DictReader(src))
        with target.open("w", encoding="utf-8", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(r for r in rows if r[column] in keep)
        files.append(target)
    return events, files[0], files[1]


@pytest.fixture(scope="module")
def both(
    tmp_path_factory: pytest.TempPathFactory, demo_set: list[Journey]
) -> tuple[DemoReport, Path, Results]:
    folder = tmp_path_factory.mktemp("agreement")
    events, customers, consent = _slice(folder)
    demo = run_demo(folder / "demo.db", events, demo_set, customers=customers, consent=consent)

    days = by_day(read_events_file(events))
    first, last = min(days), max(days)
    with simulation_store(folder / "simulated.db") as engine:
        for kind, path in (("customers", customers), ("consent", consent)):
            import_file(kind, path, engine, now=first)
        registry = JourneyRegistry()
        with session_scope(engine) as session:
            registry.register(session, demo_set)
        renderer = replay_renderer(demo_set, kind=SampledRenderer)
        renderer.sample(first=0, every=1)  # every message rendered, as the demo does
        done = run(
            engine,
            registry,
            Stream(days),
            start=first,
            days=(last - first + RUN_ON) // timedelta(days=1) + 1,
            channels=counting_channels(),
            renderer=renderer,
            rules=CountingRules(),
            cadence=DEMO_CADENCE,
            batch_size=500,
            dispatch_batch=200,
        )
        results = collect(engine, done, demo_set)
    assert renderer.counted == 0
    return demo, folder / "demo.db", results


def test_they_ran_the_same_days_on_the_same_events(both: tuple[DemoReport, Path, Results]) -> None:
    demo, _, results = both
    assert len(results.days) == demo.days
    assert results.events == demo.result.events > 300


def test_stage_populations_and_entries_agree(both: tuple[DemoReport, Path, Results]) -> None:
    demo, _, results = both
    now = {(f.journey, f.stage): f.current for f in demo.funnel if f.current}
    ever = {(f.journey, f.stage): f.entered for f in demo.funnel if f.entered}
    last = results.days[-1].stages
    assert {(j, s): n for j, stages in last.items() for s, n in stages.items() if n} == now
    assert {(r.journey, r.stage): r.entered for r in results.report.stages if r.entered} == ever
    assert len(now) > 5


def test_sends_per_template_agree(both: tuple[DemoReport, Path, Results]) -> None:
    demo, database, results = both
    a = action_run_t
    what = func.coalesce(a.c.template, func.json_extract(a.c.params, "$.webhook"))
    engine = create_db_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        rows = conn.execute(
            select(a.c.kind, a.c.journey, what, func.count())
            .where(a.c.status == "sent")
            .group_by(a.c.kind, a.c.journey, what)
        ).all()
    engine.dispose()
    in_the_demo = {(kind, journey, template): n for kind, journey, template, n in rows}

    assert {(c.channel, c.journey, c.what): c.n for c in results.sent} == in_the_demo
    # ... and the demo's outbox holds exactly those messages.
    assert sum(in_the_demo.values()) == demo.dispatch.outcomes["sent"]
    assert len(in_the_demo) > 5


def test_skips_by_reason_agree(both: tuple[DemoReport, Path, Results]) -> None:
    demo, _, results = both
    in_the_demo: Counter[str] = Counter()
    for (_, _, status, why), n in demo.actions.items():
        if status == "skipped":
            in_the_demo[why] += n
    simulated: Counter[str] = Counter()
    for c in results.skipped:
        simulated[c.what] += c.n
    assert simulated == in_the_demo
    # Consent skips as the demo's send rules counted them while deciding.
    consent = {why: n for (verb, why), n in demo.held.items() if verb == "skipped"}
    assert consent, "the sample's consent makes the rules skip some messages"
    assert {why: simulated[why] for why in consent} == consent
