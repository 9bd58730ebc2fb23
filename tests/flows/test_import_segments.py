"""An import is a change of the customers it creates or updates: when a journey is entered
by a segment, the import writes `customer.updated` into their history and the segment is
checked with it; importing the same file again enters nobody twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from flows.importing import import_file
from journeys.model import Journey
from journeys.store import JourneyRegistry, create_db_engine, create_schema, session_scope
from journeys.store.tables import enrollment_t, inbound_event_t

VIP = Journey.model_validate(
    {
        "journey": "vip",
        "version": 1,
        "name": "VIP",
        "stages": [
            {"key": "welcome", "enter_when": {"segment": "orders_total >= 3 and country == 'DE'"}},
            {"key": "done", "enter_when": {"after": "1d", "from": ["welcome"]}, "final": True},
        ],
    }
)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_an_import_enters_the_customers_its_changes_put_in_a_segment(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [VIP])
    path = tmp_path / "customers.jsonl"
    rows = [("k1", "DE", 3), ("k2", "DE", 1), ("k3", "AT", 5)]
    path.write_text(
        "".join(
            json.dumps({"id": i, "country": c, "attributes": {"orders_total": n}}) + "\n"
            for i, c, n in rows
        ),
        encoding="utf-8",
    )
    summary = import_file("customers", path, engine, registry=registry, now=NOW)
    assert summary.applied is not None and summary.applied.enrolled == 1
    again = import_file("customers", path, engine, registry=registry, now=NOW)
    assert again.unchanged == 3
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(enrollment_t)).scalar_one() == 1
        updates = select(func.count()).where(inbound_event_t.c.type == "customer.updated")
        assert conn.execute(updates).scalar_one() == 3
    engine.dispose()


def test_without_a_segment_journey_an_import_writes_no_events(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'store.db'}")
    create_schema(engine)
    path = tmp_path / "customers.csv"
    path.write_text("id,country\nk1,DE\n", encoding="utf-8")
    summary = import_file("customers", path, engine, registry=JourneyRegistry(), now=NOW)
    assert summary.created == 1 and summary.applied is None
    with engine.connect() as conn:
        count = select(func.count()).select_from(inbound_event_t)
        assert conn.execute(count).scalar_one() == 0
    engine.dispose()
