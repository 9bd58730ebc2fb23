"""GDPR on the command line, on SQLite and PostgreSQL: a customer imported with their
consent who went through every shipped journey (events applied, messages dispatched to
the outbox folder by the send rules) is exported, then erased: no table and no outbox
file holds their name, address or number afterwards."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from crash_storm import postgres_database
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from flows.cli import app
from flows.events_file import read_events_file
from flows.importing import import_file
from flows.replay import Clock, by_day, outbox_channels, replay, replay_renderer
from flows.send_rules import SendRules
from journeys import load_journeys
from journeys.store import JourneyRegistry, create_db_engine, create_schema, session_scope
from journeys.store.tables import metadata

NAME, EMAIL, PHONE = "Zephyrine", "zephyrine.quackenbush@example.org", "+4915207654321"
TRACES = ("zephyrine", "quackenbush", "15207654321")


def _events_file(path: Path) -> Path:
    types = sorted(
        {
            trigger.event
            for journey in load_journeys()
            for stage in journey.stages
            for trigger in stage.enter_when
            if getattr(trigger, "event", None)
        }
    )
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    profile = {
        "email": EMAIL,
        "phone": PHONE,
        "first_name": NAME,
        "last_name": "Quackenbush",
        "locale": "de",
        "country": "DE",
    }
    lines = [
        {
            "external_id": f"e-{n}",
            "type": etype,
            "customer_id": "zq-1",
            "source": "shop",
            "occurred_at": (start + timedelta(days=n)).isoformat(),
            "customer": profile,
            "data": {
                "rating": 5,
                "score": 10,
                "total": 120.0,
                "category": "laptops",
                "comment": f"{NAME} liked it",
            },
        }
        for n, etype in enumerate(types)
    ]
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'gdpr.db'}"
        return
    with postgres_database("journeyflow_gdpr") as url:
        yield url


def _every_journey_for_them(url: str, folder: Path, outbox: Path) -> None:
    """The production path on a virtual clock: the shop's customer file and consent
    imported, the events applied day by day, due messages dispatched by the send rules."""
    people, consent = folder / "customers.csv", folder / "consent.csv"
    people.write_text(
        "id,email,phone,first_name,last_name,locale,country\n"
        f"zq-1,{EMAIL},{PHONE},{NAME},Quackenbush,de,DE\n",
        encoding="utf-8",
    )
    consent.write_text(
        "customer_id,channel,status,source,at,ip\n"
        "zq-1,email,subscribed,shop,2026-03-01T09:00:00Z,203.0.113.77\n"
        "zq-1,sms,subscribed,shop,2026-03-01T09:00:00Z,203.0.113.77\n",
        encoding="utf-8",
    )
    engine = create_db_engine(url)
    create_schema(engine)
    journeys = load_journeys()
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, journeys)
    for kind, path in (("customers", people), ("consent", consent)):
        summary = import_file(kind, path, engine)  # type: ignore[arg-type]
        assert summary.created == summary.rows, summary
    days = by_day(read_events_file(_events_file(folder / "events.jsonl")))
    clock = Clock(min(days))
    channels = outbox_channels(outbox, clock)
    replay(engine, registry, days, channels, replay_renderer(journeys), clock, SendRules())
    engine.dispose()


def _everything(url: str, outbox: Path) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = [str(r) for t in metadata.sorted_tables for r in conn.execute(select(t))]
    engine.dispose()
    files = [p.read_bytes().decode("utf-8", "replace") for p in outbox.rglob("*") if p.is_file()]
    return "\n".join(rows + files).lower()


def test_export_then_erase_leaves_nothing_of_the_person(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    outbox = tmp_path / "outbox"
    _every_journey_for_them(store_url, tmp_path, outbox)
    before = _everything(store_url, outbox)
    assert all(trace in before for trace in TRACES)  # the person is everywhere first
    mails = [p for p in outbox.rglob("*.eml") if NAME.lower() in p.read_text("utf-8").lower()]
    texts = [p for p in outbox.rglob("*.txt") if NAME.lower() in p.read_text("utf-8").lower()]
    assert len(mails) >= 3 and texts  # marketing too: the send rules found their consent
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", store_url)
    monkeypatch.setenv("JOURNEYFLOW_OUTBOX_DIR", str(outbox))
    monkeypatch.setenv("JOURNEYFLOW_ERASURE_SECRET", "erasure-secret-0123456789")
    runner = CliRunner()

    exported = runner.invoke(app, ["customer", "export", "zq-1", "-o", str(tmp_path / "x.json")])
    assert exported.exit_code == 0, exported.output
    document = json.loads((tmp_path / "x.json").read_text(encoding="utf-8"))
    assert document["customer"]["email"] == EMAIL
    assert document["messages"] and document["enrollments"] and document["events_received"]

    erased = runner.invoke(app, ["customer", "erase", "zq-1", "--yes"])
    assert erased.exit_code == 0, erased.output
    after = _everything(store_url, outbox)
    for trace in TRACES:
        assert trace not in after
    assert "zq-1" not in after and "203.0.113.77" not in after

    unknown = runner.invoke(app, ["customer", "export", "zq-1"])
    assert unknown.exit_code == 1 and "no customer 'zq-1'" in unknown.output
    assert runner.invoke(app, ["customer", "erase", "nobody", "--yes"]).exit_code == 1
