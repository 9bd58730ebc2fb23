"""Whole simulations on a small population: deterministic for a seed on SQLite and
PostgreSQL alike, figures that are the store's own counts (recomputed here row by row
in plain Python), send rules and template errors as production has them."""

from __future__ import annotations

import shutil
import sqlite3
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from crash_storm import postgres_database

from flows.simulation.model import BehaviourModel, parse_model
from flows.simulation.results import Results
from flows.simulation.run import Cadence
from flows.simulation.simulate import Plan, simulate
from journeys.config import templates_dir
from journeys.model import Journey
from journeys.store import create_db_engine, create_schema

SIX_HOURS = Cadence(timedelta(hours=6))


def _plan(journeys: list[Journey], model: BehaviourModel, seed: int = 7, **kw: Any) -> Plan:
    options: dict[str, Any] = {"customers": 40, "days": 12, "cadence": SIX_HOURS, **kw}
    return Plan(journeys, model, seed=seed, **options)


def _figures(results: Results) -> dict[str, Any]:
    return results.model_dump(mode="json", exclude={"seconds"})


def test_the_same_seed_gives_the_same_figures_and_another_seed_others(
    tmp_path: Path, demo_set: list[Journey], model: BehaviourModel
) -> None:
    first = simulate(_plan(demo_set, model), database=tmp_path / "first.db")
    again = simulate(_plan(demo_set, model), database=tmp_path / "again.db")
    other = simulate(_plan(demo_set, model, seed=8), database=tmp_path / "other.db")

    assert first.events > 100 and sum(c.n for c in first.sent) > 50
    assert _figures(first) == _figures(again)
    assert _figures(first) != _figures(other)


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_the_same_figures(
    tmp_path: Path, demo_set: list[Journey], model: BehaviourModel
) -> None:
    """With the test above: the same seed gives the same figures on PostgreSQL too."""
    on_sqlite = simulate(_plan(demo_set, model), database=tmp_path / "s.db")
    with postgres_database("journeyflow_simulation_same") as url:
        engine = create_db_engine(url)
        create_schema(engine)
        try:
            on_postgres = simulate(_plan(demo_set, model), engine=engine)
        finally:
            engine.dispose()

    assert _figures(on_sqlite) == _figures(on_postgres)


# --- the figures, recomputed from the rows --------------------------------------------------


def _at(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text).replace(tzinfo=UTC)


def _rows(db: Path, query: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(query).fetchall()


def test_the_figures_are_the_stores_own_counts(
    tmp_path: Path, demo_set: list[Journey], model: BehaviourModel
) -> None:
    db = tmp_path / "s.db"
    results = simulate(_plan(demo_set, model, customers=60, days=14), database=db)
    start = results.start

    def day(moment: datetime) -> int:
        return (moment - start) // timedelta(days=1)

    actions = _rows(
        db,
        "SELECT kind, journey, coalesce(template, json_extract(params, '$.webhook')), status,"
        " coalesce(last_error, ''), send_started_at, updated_at, due_at FROM action_run",
    )
    sent: Counter[tuple[int, str, str, str]] = Counter()
    skipped: Counter[tuple[int, str, str]] = Counter()
    per_minute: Counter[tuple[str, datetime]] = Counter()
    per_second: Counter[tuple[str, datetime]] = Counter()
    for kind, journey, what, status, why, started, updated, due in actions:
        if status == "sent":
            sent[(day(_at(started)), kind, journey, what)] += 1  # type: ignore[arg-type]
            due_at = _at(due)
            assert due_at is not None
            per_minute[(kind, due_at.replace(second=0, microsecond=0))] += 1
            per_second[(kind, due_at.replace(microsecond=0))] += 1
        elif status == "skipped":
            skipped[(day(_at(updated)), kind, why)] += 1  # type: ignore[arg-type]
    assert sent, "the run sent messages"
    for d in results.days:
        assert {(c.channel, c.journey, c.what): c.n for c in d.sent} == {
            (k, j, w): n for (dd, k, j, w), n in sent.items() if dd == d.day
        }
        assert {(c.channel, c.what): c.n for c in d.skipped} == {
            (k, w): n for (dd, k, w), n in skipped.items() if dd == d.day
        }
        peaks = {p.channel: (p.per_minute, p.per_second) for p in d.peaks}
        expected = {
            kind: (
                max(n for (k, m), n in per_minute.items() if k == kind and day(m) == d.day),
                max(n for (k, s), n in per_second.items() if k == kind and day(s) == d.day),
            )
            for kind in {k for k, m in per_minute if day(m) == d.day}
        }
        assert peaks == expected

    entries = Counter(
        (day(_at(at)), journey)  # type: ignore[arg-type]
        for journey, at in _rows(db, "SELECT journey, entered_at FROM enrollment")
    )
    codes = Counter(
        (day(_at(at)), campaign)  # type: ignore[arg-type]
        for campaign, at in _rows(db, "SELECT campaign, created_at FROM promo_code")
    )
    for d in results.days:
        assert d.entries == {j: n for (dd, j), n in entries.items() if dd == d.day}
        assert d.promo_codes == {c: n for (dd, c), n in codes.items() if dd == d.day}

    # A visit lasts from a stage entry to the enrollment's next one, or to its exit or
    # goal; a customer counts in a stage at a day's end while a visit is open.
    transitions = defaultdict(list)
    for enrollment, entry, stage, at in _rows(
        db, "SELECT enrollment_id, stage_entry, to_stage, at FROM stage_transition"
    ):
        transitions[enrollment].append((entry, stage, _at(at)))
    visits = []
    for enrollment, journey, status, ended in _rows(
        db, "SELECT id, journey, status, ended_at FROM enrollment"
    ):
        steps = sorted(transitions[enrollment])
        for n, (_, stage, at) in enumerate(steps):
            left = steps[n + 1][2] if n + 1 < len(steps) else None
            if left is None and status in ("exited", "goal"):
                left = _at(ended)
            visits.append((journey, stage, at, left))
    for d in results.days:
        end_of_day = start + timedelta(days=d.day + 1)
        there: Counter[tuple[str, str]] = Counter(
            (j, s)
            for j, s, at, left in visits
            if at < end_of_day and (left is None or left >= end_of_day)
        )
        shown = {(j, s): n for j, stages in d.stages.items() for s, n in stages.items()}
        assert {k: n for k, n in shown.items() if n} == dict(there)


# --- the send rules and the templates, as production has them ------------------------------

NIGHT_OWLS = """
active_hours: "21:10-21:50"
defaults:
  profiles: [{locale: de, country: DE, timezone: Europe/Berlin}]
  consent: {email: {subscribed: 1}}
personas:
  - key: night_owl
    share: 1
    starts_with: {event: page.viewed, data: {page: /}}
    behaviour:
      - {after: page.viewed, then: product.compared, in: 5m..10m, data: {products: [a]}}
"""


def test_quiet_hours_defer_a_message_to_their_end_in_the_customers_zone(
    tmp_path: Path, shipped_journeys: dict[str, Journey]
) -> None:
    """Customers compare offers at about 21:30 their time; the buying guide falls due a
    day later, inside the quiet hours (21:00-08:00): each one is deferred once, and all
    of a morning's go out due at 08:00:00, the peak of that second."""
    model, _ = parse_model(NIGHT_OWLS)
    db = tmp_path / "s.db"
    results = simulate(
        _plan([shipped_journeys["customer_lifecycle"]], model, customers=30, days=10), database=db
    )

    guides = [c.n for c in results.sent if c.what == "buying_guide"]
    assert guides and [(c.channel, c.what) for c in results.deferred] == [("email", "quiet hours")]
    berlin = ZoneInfo("Europe/Berlin")
    waiting = [
        t
        for (t,) in _rows(db, "SELECT due_at FROM action_run WHERE status = 'pending'")
        if (at := _at(t)) and at.astimezone(berlin).time().isoformat() == "08:00:00"
    ]
    # Each deferred once: sent since, or due at 08:00 after the last simulated day.
    assert results.deferred[0].n == sum(guides) + len(waiting)
    due = [_at(t) for (t,) in _rows(db, "SELECT due_at FROM action_run WHERE status = 'sent'")]
    assert {t.astimezone(berlin).time().isoformat() for t in due if t} == {"08:00:00"}
    mornings = Counter(t.date() for t in due if t)
    for d in results.days:
        email = [p for p in d.peaks if p.channel == "email"]
        expected = mornings.get((results.start + timedelta(days=d.day)).date(), 0)
        assert [p.per_second for p in email] == ([expected] if expected else [])


def test_a_template_error_fails_every_message_of_its_kind_and_sends_none(
    tmp_path: Path, demo_set: list[Journey], model: BehaviourModel
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(templates_dir(), templates)
    for locale in ("de", "en"):
        path = templates / locale / "thank_you.email.j2"
        path.write_text(
            path.read_text(encoding="utf-8").replace(
                "{% block subject %}", "{% block subject %}{{ event.data.nope.x }}", 1
            ),
            encoding="utf-8",
        )
    db = tmp_path / "s.db"

    results = simulate(
        _plan(demo_set, model, render_first=2, render_every=50), database=db, templates=templates
    )

    failed = [c for c in results.failed if "thank_you" in c.what]
    thanked = _rows(
        db,
        "SELECT status, count(*) FROM action_run"
        " WHERE template = 'thank_you' AND status != 'pending' GROUP BY status",
    )
    assert dict(thanked) == {"failed": sum(c.n for c in failed)}
    assert all("render error" in c.what for c in failed)
    assert not [c for c in results.sent if c.what == "thank_you"]
