"""`journeyflow abtests`: the results of a store filled by the real dispatcher (which
skips the holdout), as a table and as JSON; bad input is a clear error."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from channels import OutboxChannel
from channels.links import LinkSigner
from channels.render import Renderer
from channels.render_settings import RenderSettings
from channels.settings import ChannelSettings
from flows.cli import app
from flows.cli_abtests import parse_moment
from flows.dispatch import dispatch_due
from journeys.config import templates_dir
from journeys.model import Journey
from journeys.store import (
    IncomingEvent,
    JourneyRegistry,
    apply_events,
    create_db_engine,
    create_schema,
    dispose_engines,
    session_scope,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
REFERRAL = Journey.model_validate(
    {
        "journey": "referral",
        "version": 1,
        "name": "Referral",
        "locale": "de",
        "goal": {"event": "referral.completed"},
        "stages": [
            {
                "key": "fan",
                "enter_when": {"event": "review.submitted"},
                "on_enter": [
                    {
                        "email": "referral_request",
                        "variants": [
                            {"key": "personal", "weight": 45, "template": "referral_request"},
                            {"key": "reward", "weight": 45, "template": "referral_reward"},
                            {"key": "holdout", "weight": 10},
                        ],
                        "ab_test": {"within": "7d", "min_sample": 20},
                    }
                ],
            }
        ],
    }
)
N = 90


def _event(kind: str, i: int, at: datetime, **profile: Any) -> IncomingEvent:
    return IncomingEvent(
        source="shop",
        external_id=f"{kind}-{i}",
        type=kind,
        customer_id=f"fan-{i:03d}",
        occurred_at=at,
        data={"rating": 5},
        customer=profile or None,
    )


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fans review, the dispatcher sends the referral request (or skips the holdout),
    and every third fan completes a referral a day later."""
    path = tmp_path / "ab.db"
    engine = create_db_engine(f"sqlite:///{path}")
    create_schema(engine)
    registry = JourneyRegistry()
    with session_scope(engine) as session:
        registry.register(session, [REFERRAL])
        reviews = [
            _event("review.submitted", i, T0 + timedelta(minutes=i), email=f"fan{i}@example.com")
            for i in range(N)
        ]
        apply_events(session, registry, reviews, reviews[-1].occurred_at)
    renderer = Renderer(
        templates_dir(),
        LinkSigner("abtests-test-secret-0123456789", "https://shop.example"),
        RenderSettings(),
        ChannelSettings(),
    )
    channels = {"email": OutboxChannel(tmp_path / "outbox", kind="email")}
    dispatch_due(engine, registry, channels, renderer, T0 + timedelta(hours=3))
    with session_scope(engine) as session:
        done = [
            _event("referral.completed", i, T0 + timedelta(days=1, minutes=i))
            for i in range(0, N, 3)
        ]
        apply_events(session, registry, done, done[-1].occurred_at)
    engine.dispose()
    dispose_engines()
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", f"sqlite:///{path}")
    return path


def expected(path: Path) -> dict[str, tuple[int, int]]:
    """From the raw rows: who got which variant, and which of them referred someone."""
    with sqlite3.connect(path) as db:
        rows = db.execute(
            "select c.external_id, a.variant, a.status, a.last_error from action_run a "
            "join customer c on c.id = a.customer_id"
        ).fetchall()
    assert {(status, why) for _, _, status, why in rows} == {("sent", None), ("skipped", "holdout")}
    converted = {f"fan-{i:03d}" for i in range(0, N, 3)}
    n = Counter(variant for _, variant, _, _ in rows)
    c = Counter(variant for who, variant, _, _ in rows if who in converted)
    return {k: (n[k], c[k]) for k in n}


def test_json_has_the_figures_the_rows_give(store: Path) -> None:
    result = CliRunner().invoke(app, ["abtests", "--json"])
    assert result.exit_code == 0, result.output
    (test,) = json.loads(result.output)
    assert (test["journey"], test["stage"], test["action"], test["metric"]) == (
        "referral",
        "fan",
        "referral_request",
        "goal",
    )
    got = {a["variant"]: (a["recipients"], a["conversions"]) for a in test["arms"]}
    assert got == expected(store)
    holdout = next(a for a in test["arms"] if a["holdout"])
    assert holdout["variant"] == "holdout" and holdout["recipients"] > 0
    assert test["decision"]["status"] in ("winner", "not_yet")


def test_the_table_shows_every_variant_and_the_decision(store: Path) -> None:
    result = CliRunner().invoke(app, ["abtests", "referral"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    for word in ("personal", "reward", "holdout", "vs holdout", "P(best)", "referral_request"):
        assert word in result.output
    (test,) = json.loads(CliRunner().invoke(app, ["abtests", "--json"]).output)
    assert test["decision"]["text"].split(":")[0] in result.output


def test_a_period_before_any_send_has_no_recipients(store: Path) -> None:
    result = CliRunner().invoke(app, ["abtests", "--json", "--until", "2026-03-01"])
    (test,) = json.loads(result.output)
    assert {a["recipients"] for a in test["arms"]} == {0}
    assert test["until"].startswith("2026-03-01T00:00:00")


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["abtests", "nope"], 1, "nope"),
        (["abtests", "--since", "yesterday"], 2, "--since"),
        (["abtests", "--until", "2026-13-01"], 2, "--until"),
        (["abtests", "--since", "2026-03-02", "--until", "2026-03-01"], 2, "after --since"),
    ],
)
def test_bad_input_is_a_clear_error(store: Path, args: list[str], code: int, words: str) -> None:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


def test_moments_are_dates_times_or_durations_ago() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    assert parse_moment("30d", now=now) == now - timedelta(days=30)
    assert parse_moment("2026-03-01", now=now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert parse_moment("2026-03-01T10:00+01:00") == datetime(2026, 3, 1, 9, tzinfo=UTC)


@given(st.text(max_size=40))
def test_any_text_is_a_moment_or_a_clear_error(text: str) -> None:
    try:
        moment = parse_moment(text)
    except typer.BadParameter as exc:
        assert "neither a date" in str(exc) or "longer than" in str(exc)
    else:
        assert moment.tzinfo is not None
