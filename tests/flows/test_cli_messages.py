"""`journeyflow messages`: what waits for an operator, and an operator's release."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from flows.cli import app
from journeys.loader import parse_journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_schema,
    dispose_engines,
    get_engine,
    session_scope,
)
from journeys.store.outbox.claims import (
    ISOLATED_CRASHES,
    SUSPECT_CRASHES,
    claim_due,
    mark_preparing,
    mark_send_started,
    recover_expired,
)
from journeys.store.tables import action_release_t, action_run_t

runner = CliRunner()
NOW = datetime.now(UTC).replace(microsecond=0)
T0 = NOW - timedelta(hours=3)
LEASE = timedelta(minutes=1)
JOURNEY = """\
journey: held
version: 1
name: Held
locale: de
stages:
  - key: signup
    enter_when: {event: account.created}
    on_enter: [{email: buying_guide}]
    final: true
"""


@pytest.fixture
def engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'held.db'}"
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", url)
    engine = get_engine(url)
    create_schema(engine)
    registry = JourneyRegistry()
    events = [
        IncomingEvent(
            source="shop",
            external_id=f"e-{who}",
            type="account.created",
            customer_id=who,
            occurred_at=T0,
            customer={"email": f"{who}@example.org"},
        )
        for who in ("lost", "poison", "fine")
    ]
    with session_scope(engine) as session:
        registry.register(session, [parse_journey(JOURNEY, "held.yaml")[0]])
        apply_events(session, registry, events, T0)
    yield engine
    dispose_engines()


def _hold(engine: Engine) -> dict[str, int]:
    """'lost': a send that started, then its dispatcher died (unknown, 3 hours ago);
    'poison': dispatchers died holding it alone, again and again (quarantined)."""
    with session_scope(engine) as session:
        actions = claim_due(session, T0, 10, LEASE, "w")
        ids = {a.customer.external_id: a.id for a in actions}
        mark_send_started(session, [a for a in actions if a.id == ids["lost"]], T0, LEASE)
        mark_preparing(session, actions[0].claim, [ids["poison"]], T0)  # then a crash
        session.connection().execute(
            update(action_run_t)
            .where(action_run_t.c.id == ids["poison"])
            .values(crashes=SUSPECT_CRASHES + ISOLATED_CRASHES - 1)
        )
        recover_expired(session, T0 + 2 * LEASE)
    return ids


def test_unknown_lists_what_is_held_longer_than_the_window(engine: Engine) -> None:
    ids = _hold(engine)

    listed = runner.invoke(app, ["messages", "unknown", "--older-than", "2h"])
    recent = runner.invoke(app, ["messages", "unknown", "--older-than", "4h"])
    quarantined = runner.invoke(app, ["messages", "quarantined"])

    assert listed.exit_code == 0, listed.output
    assert "1 unknown message(s)" in listed.output and str(ids["lost"]) in listed.output
    assert "lost@example.org" not in listed.output  # ids, not addresses
    assert "no unknown messages held for longer than 4h" in recent.output
    assert "1 quarantined message(s)" in quarantined.output
    assert "buying_guide" in quarantined.output
    bad = runner.invoke(app, ["messages", "unknown", "--older-than", "60"])
    assert bad.exit_code == 2 and "not a duration" in bad.output


def test_release_is_recorded_and_sends_once_more(engine: Engine) -> None:
    ids = _hold(engine)
    fine = ids["fine"]

    result = runner.invoke(
        app,
        [
            "messages",
            "release",
            str(ids["lost"]),
            str(ids["poison"]),
            str(fine),
            "--reason",
            "not in SendGrid's activity",
            "--by",
            "ops@example.com",
        ],
    )

    assert result.exit_code == 1, result.output  # one of them was not held
    assert "released 2 action(s)" in result.output and f"left alone: {fine}" in result.output
    with engine.connect() as conn:
        rows = dict(conn.execute(select(action_run_t.c.id, action_run_t.c.status)).all())
        log = conn.execute(
            select(action_release_t.c.action_run_id, action_release_t.c.operator)
        ).all()
    assert rows[ids["lost"]] == rows[ids["poison"]] == "pending"
    assert sorted(log) == sorted((ids[k], "ops@example.com") for k in ("lost", "poison"))
    missing = runner.invoke(app, ["messages", "release", "1"])
    assert missing.exit_code == 2 and "--reason" in missing.output
