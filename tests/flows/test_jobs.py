"""The scheduled jobs: real Prefect flow runs on a real SQLite file, and prefect.yaml.

The Prefect tests share one test server (`prefect_harness`, about 8 s once) and stay few;
each small flow run costs about 0.1 s. The plain helpers are tested without Prefect.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, select

from channels.errors import RetryableSendError
from flows import jobs, runtime, serve
from journeys.config import PROJECT_ROOT
from journeys.errors import UnknownJourneyError
from journeys.store import Customer, IncomingEvent, session_scope, store_events
from journeys.store.people.consent import set_consent

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
# Every customer confirms the newsletter (double opt-in), orders and receives the order
# within three hours.
STEPS = (("newsletter.confirmed", 0), ("order.completed", 1), ("order.delivered", 2))


def _receive(customers: int) -> int:
    """Store the events of `customers` customers in the inbox, as a receiver would."""
    events = [
        IncomingEvent(
            source="shop",
            external_id=f"c{i}-{n}",
            type=kind,
            customer_id=f"c{i}",
            occurred_at=T0 + timedelta(hours=hours),
            customer={"email": f"kunde{i}@example.org", "locale": "de"} if n == 0 else None,
        )
        for i in range(customers)
        for n, (kind, hours) in enumerate(STEPS)
    ]
    with session_scope(runtime.open_store().engine) as session:
        store_events(session, events)
        _sign_up(session, customers)
    return len(events)


def _sign_up(session: Session, customers: int) -> None:
    """The customers confirmed their newsletter subscription (double opt-in) at signup:
    without that consent the send rules hold every marketing email back."""
    for i in range(customers):
        customer = session.exec(select(Customer).where(Customer.external_id == f"c{i}")).first()
        if customer is None:
            customer = Customer(external_id=f"c{i}", email=f"kunde{i}@example.org", locale="de")
            session.add(customer)
            session.flush()
        assert customer.id is not None
        set_consent(session, customer.id, "email", "subscribed", "signup double opt-in", T0)


def _db(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "journeyflow.db")


def _scalar(db: sqlite3.Connection, sql: str) -> int:
    value: int = db.execute(sql).fetchone()[0]
    return value


def _emails(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "outbox").glob("*/*.eml"))


def _artifact(key: str) -> str:
    from prefect.artifacts import Artifact

    artifact: Any = Artifact.get(key)  # the latest under the key
    assert artifact is not None, key
    return str(artifact.data)


# --- real flow runs ----------------------------------------------------------------------------


def test_flows_move_customers_from_inbox_to_outbox(prefect_harness: None, jobs_env: Path) -> None:
    received = _receive(4)

    ingested = jobs.ingest_events(jobs.IngestParams(batch_size=5, now=T0 + timedelta(hours=3)))

    db = _db(jobs_env)
    assert ingested["events"] == received == 12
    assert ingested["batches"] == 3  # 5 + 5 + 2 events: one task run each
    assert ingested["enrolled"] == _scalar(db, "select count(*) from enrollment") == 4
    assert ingested["transitions"] == _scalar(db, "select count(*) from stage_transition")
    assert ingested["actions_scheduled"] == _scalar(db, "select count(*) from action_run")
    assert _scalar(db, "select count(*) from inbound_event where processed_at is null") == 0

    # Thirty days after delivery the customers become loyal (a timer, not an event).
    swept = jobs.advance_timers(jobs.TimerParams(now=T0 + timedelta(days=31)))
    assert swept["timers"] == 4
    assert _scalar(db, "select count(*) from enrollment where stage = 'loyalty'") == 4

    dispatched = jobs.dispatch_due(jobs.DispatchParams(now=T0 + timedelta(days=35)))

    sent = _scalar(db, "select count(*) from action_run where status = 'sent'")
    assert dispatched["sent"] == sent == len(_emails(jobs_env)) > 0
    assert dispatched["claimed"] == sum(
        dispatched[s] for s in ("sent", "failed", "unknown", "skipped", "deferred", "retry")
    )
    table = _artifact("dispatch-due")
    assert "| outcome | count |" in table
    assert f"| sent | {sent} |" in table
    assert f"| email | sent | {sent} |" in table
    assert "| events | 12 |" in _artifact("ingest-events")

    again = jobs.dispatch_due(jobs.DispatchParams(now=T0 + timedelta(days=35)))

    assert again["claimed"] == again["sent"] == 0
    assert len(_emails(jobs_env)) == sent


def test_a_busy_database_is_retried_and_a_bug_is_not(
    prefect_harness: None, jobs_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _receive(1)
    calls: list[str] = []
    apply = runtime.ingest_batch

    def flaky(store: runtime.Store, now: datetime, limit: int) -> Any:
        calls.append("call")
        if len(calls) == 1:
            raise OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        return apply(store, now, limit)

    monkeypatch.setattr(runtime, "ingest_batch", flaky)
    # The schedule of the retries is not under test: no delay.
    fast = jobs.apply_inbox_batch.with_options(retry_delay_seconds=0)
    monkeypatch.setattr(jobs, "apply_inbox_batch", fast)

    assert jobs.ingest_events(jobs.IngestParams(now=T0 + timedelta(hours=3)))["events"] == 3
    assert len(calls) == 2

    def broken(store: runtime.Store, now: datetime, limit: int) -> Any:
        calls.append("bug")
        raise ValueError("a bug, not a busy database")

    monkeypatch.setattr(runtime, "ingest_batch", broken)
    state = jobs.ingest_events(jobs.IngestParams(), return_state=True)

    assert state.is_failed()
    assert calls.count("bug") == 1


def _answer_surveys(db: sqlite3.Connection) -> None:
    """CSAT 5, 4, 3, 1 and NPS 10, 9, 8, 7, 6, 0 through the links of the sent emails."""
    from journeys.store.feedback.surveys import record_survey_answer

    keys = [
        k for (k,) in db.execute("select idempotency_key from action_run where status = 'sent'")
    ]
    answers = [("csat", s) for s in (5, 4, 3, 1)] + [("nps", s) for s in (10, 9, 8, 7, 6, 0)]
    assert len(keys) >= len(answers)
    with session_scope(runtime.open_store().engine) as session:
        for key, (kind, score) in zip(keys, answers, strict=False):
            assert record_survey_answer(session, key, kind, score, T0 + timedelta(hours=5))


def test_the_daily_report_publishes_writes_the_page_and_returns_the_kpis(
    prefect_harness: None, jobs_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _receive(6)
    jobs.run_once(T0 + timedelta(hours=3))  # the welcome and order emails go out
    db = _db(jobs_env)
    _answer_surveys(db)
    page = jobs_env / "reports" / "daily.html"
    monkeypatch.setenv("JOURNEYFLOW_REPORT_FILE", str(page))

    result = jobs.daily_report(jobs.ReportParams(days=7, now=T0 + timedelta(days=2, hours=6)))

    # The period: the 7 whole days (UTC) before the run's day.
    assert result["until"].startswith("2026-03-04T00:00:00")
    assert result["since"].startswith("2026-02-25T00:00:00")
    everyone, five_phases = result["kpis"]
    assert everyone["journey"] is None and five_phases["journey"] == "five_phases"
    # CSAT of 5, 4, 3, 1 is 50 %; NPS of 10, 9, 8, 7, 6, 0 is (2 - 2) / 6 = 0.
    assert (everyone["csat_pct"], everyone["csat_answers"]) == (50.0, 4)
    assert (everyone["nps"], everyone["nps_answers"]) == (0.0, 6)
    sent = _scalar(db, "select count(*) from action_run where status = 'sent' and kind = 'email'")
    assert five_phases["sent"] == sent > 0
    assert five_phases["enrolled"] == _scalar(db, "select count(*) from enrollment") == 6
    assert result["file"] == str(page)
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Plotly.newPlot" in html
    assert 'class="map"' in html  # the journey map, drawn inline
    # The artifacts, under their keys.
    summary = _artifact("daily-report")
    assert "| every journey | 50.0 % (4)" in summary
    assert str(page) in summary
    kpis = json.loads(_artifact("daily-report-kpis"))
    assert [row["CSAT answers"] for row in kpis] == [4, 4]
    funnel = json.loads(_artifact("daily-report-funnel"))
    into = dict(
        db.execute(
            "select to_stage, count(distinct customer_id) from stage_transition group by to_stage"
        ).fetchall()
    )
    assert set(into) <= {row["stage"] for row in funnel}
    assert all(row["entered"] == into.get(row["stage"], 0) for row in funnel)


def test_the_report_file_comes_from_the_parameter_else_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("JOURNEYFLOW_REPORT_FILE", raising=False)
    assert jobs.report_file(jobs.ReportParams()) == Path("var/report.html")
    monkeypatch.setenv("JOURNEYFLOW_REPORT_FILE", "/srv/reports/today.html")
    assert jobs.report_file(jobs.ReportParams()) == Path("/srv/reports/today.html")
    assert jobs.report_file(jobs.ReportParams(output="x.html")) == Path("x.html")
    with pytest.raises(ValueError, match="days"):
        jobs.ReportParams(days=0)


# --- without Prefect ---------------------------------------------------------------------------


def test_run_once_runs_the_three_steps_in_order(jobs_env: Path) -> None:
    _receive(2)

    first = jobs.run_once(T0 + timedelta(hours=3))
    assert first["ingest"]["events"] == 6
    # Sent at once: the welcome and the order confirmation of each customer.
    assert first["dispatch"]["sent"] == len(_emails(jobs_env)) == 4

    later = jobs.run_once(T0 + timedelta(days=31))
    assert later["ingest"]["events"] == 0
    assert later["timers"]["timers"] == 2
    assert later["dispatch"]["sent"] > 0

    assert jobs.run_once(T0 + timedelta(days=31))["dispatch"]["claimed"] == 0


def test_a_sweep_limited_to_a_journey_leaves_the_others_alone(jobs_env: Path) -> None:
    definitions = PROJECT_ROOT / "journeys" / "definitions"
    shutil.copy(definitions / "customer_lifecycle.yaml", jobs_env / "journeys")
    _receive(2)
    jobs.run_once(T0 + timedelta(hours=3))
    store = runtime.open_store()
    db = _db(jobs_env)
    timer_moves = (
        "select journey, count(*) from stage_transition where cause like 'timer%' group by journey"
    )
    before = dict(db.execute(timer_moves).fetchall())

    swept = runtime.timers_batch(store, T0 + timedelta(days=31), 500, ["customer_lifecycle"])

    after = dict(db.execute(timer_moves).fetchall())
    assert swept.timers > 0
    assert after.get("five_phases", 0) == before.get("five_phases", 0)
    assert after["customer_lifecycle"] > before.get("customer_lifecycle", 0)
    assert runtime.timers_batch(store, T0 + timedelta(days=31), 500).timers > 0  # five_phases
    with pytest.raises(UnknownJourneyError, match="did you mean 'five_phases'"):
        store.registry_for(["five_phase"])


def test_only_transient_failures_count_as_retryable() -> None:
    class PgError(Exception):
        def __init__(self, sqlstate: str) -> None:
            super().__init__(sqlstate)
            self.sqlstate = sqlstate

    def db_error(orig: Exception) -> OperationalError:
        return OperationalError("UPDATE …", {}, orig)

    assert runtime.is_transient(db_error(Exception("database is locked")))
    assert runtime.is_transient(db_error(PgError("40001")))  # serialization failure
    assert runtime.is_transient(db_error(PgError("40P01")))  # deadlock
    assert runtime.is_transient(db_error(PgError("08006")))  # connection failure
    assert runtime.is_transient(RetryableSendError("429", retry_after=3))
    assert not runtime.is_transient(db_error(PgError("23505")))  # unique violation
    assert not runtime.is_transient(ValueError("database is locked"))


def test_the_summary_is_a_markdown_table() -> None:
    text = runtime.markdown_summary("dispatch-due", {"sent": 3, "failed": 1})

    assert text.splitlines()[2:] == [
        "| outcome | count |",
        "|---|---:|",
        "| sent | 3 |",
        "| failed | 1 |",
    ]


# --- deployments ---------------------------------------------------------------------------------


def _prefect_yaml() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((PROJECT_ROOT / "prefect.yaml").read_text())
    return data


def test_serve_builds_the_deployments_of_prefect_yaml() -> None:
    declared = {d["name"]: d for d in _prefect_yaml()["deployments"]}
    built: dict[str, Any] = {d.name: d for d in serve.deployments()}

    assert (
        set(built)
        == set(declared)
        == {
            "ingest",
            "timers",
            "reengagement-sweep",
            "dispatch",
            "daily-report",
        }
    )
    for name, deployment in built.items():
        spec = declared[name]
        assert spec["entrypoint"] == "flows.jobs." + deployment.entrypoint.rpartition(".")[2]
        assert deployment.parameters == spec["parameters"]
        assert [(s.schedule.cron, s.schedule.timezone) for s in deployment.schedules] == [
            (s["cron"], s["timezone"]) for s in spec["schedules"]
        ]
        assert sorted(deployment.tags) == sorted(spec["tags"])
        triggers = [
            {
                "match": t.match.model_dump(),
                "expect": sorted(t.expect),
                "posture": t.posture.value,
                "threshold": t.threshold,
                "within": t.within.total_seconds(),
                "parameters": t.parameters,
            }
            for t in deployment.triggers
        ]
        assert triggers == [
            {
                **{k: t[k] for k in ("match", "posture", "threshold", "within", "parameters")},
                "expect": sorted(t["expect"]),
            }
            for t in spec.get("triggers", [])
        ]
    assert declared["ingest"]["triggers"][0]["expect"] == [jobs.INBOX_EVENT]


def test_register_adds_the_serve_command(jobs_env: Path) -> None:
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()
    serve.register(app)

    @app.command()
    def other() -> None:  # a second command, so that `serve` is a subcommand
        """Nothing."""

    assert "--limit" in CliRunner().invoke(app, ["serve", "--help"]).output
    _receive(1)

    once = CliRunner().invoke(app, ["serve", "--once"])

    assert once.exit_code == 0, once.output
    assert "ingest: batches 1, events 3" in once.output
    assert "dispatch: batches 1" in once.output  # the wall clock is long past T0


# A worker elsewhere running the deployed flows from its own project folder
# (JOURNEYFLOW_PROJECT_DIR): tests/test_wheel.py, with the package installed from the wheel.
