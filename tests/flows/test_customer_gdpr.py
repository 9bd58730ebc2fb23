"""GDPR on the command line: a customer who went through every shipped journey (events
applied, messages dispatched to the outbox folder) is exported, then erased: no table
and no outbox file holds their name, address or number afterwards."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from flows.cli import app
from flows.demo import run_demo
from journeys import load_journeys
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


def _everything(database: Path, outbox: Path) -> str:
    engine = create_engine(f"sqlite:///{database}")
    with engine.connect() as conn:
        rows = [str(r) for t in metadata.sorted_tables for r in conn.execute(select(t))]
    engine.dispose()
    files = [p.read_bytes().decode("utf-8", "replace") for p in outbox.rglob("*") if p.is_file()]
    return "\n".join(rows + files).lower()


def test_export_then_erase_leaves_nothing_of_the_person(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    database, outbox = tmp_path / "demo.db", tmp_path / "outbox"
    run_demo(database, _events_file(tmp_path / "events.jsonl"), outbox=outbox)
    before = _everything(database, outbox)
    assert all(trace in before for trace in TRACES)  # the person is everywhere first
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", f"sqlite:///{database}")
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
    after = _everything(database, outbox)
    for trace in TRACES:
        assert trace not in after
    assert "zq-1" not in after

    unknown = runner.invoke(app, ["customer", "export", "zq-1"])
    assert unknown.exit_code == 1 and "no customer 'zq-1'" in unknown.output
    assert runner.invoke(app, ["customer", "erase", "nobody", "--yes"]).exit_code == 1
