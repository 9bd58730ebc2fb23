"""`journeyflow report` over the demo's database: its figures are the store's own
counts, read here straight from the SQLite file; bad options are clear errors."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from flows import cli_report
from flows.cli import app
from flows.demo import run_demo
from flows.sample_data import SAMPLE_PATH
from flows.sample_people import SAMPLE_CONSENT, SAMPLE_CUSTOMERS
from journeys import load_journeys
from journeys.store import dispose_engines

runner = CliRunner()
SINCE = datetime(2026, 10, 1, tzinfo=UTC)


@dataclass
class Demo:
    db: sqlite3.Connection
    url: str
    until: datetime


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    root = tmp_path_factory.mktemp("report")
    # Every 15th persona, as the dispatch tests take it: every journey, a few minutes less.
    lines = SAMPLE_PATH.read_text(encoding="utf-8").splitlines(keepends=True)
    sample = [line for line in lines if int(json.loads(line)["customer_id"][-3:]) % 15 == 0]
    events = root / "events.jsonl"
    events.write_text("".join(sample), encoding="utf-8")
    report = run_demo(
        root / "demo.db",
        events,
        outbox=root / "outbox",
        journeys=load_journeys(),
        customers=SAMPLE_CUSTOMERS,
        consent=SAMPLE_CONSENT,
        html=False,  # the command writes its own page below
    )
    first = min(datetime.fromisoformat(json.loads(line)["occurred_at"]) for line in sample)
    start = first.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    until = start + timedelta(days=report.days + 2)  # after the last dispatch
    db = sqlite3.connect(root / "demo.db")
    yield Demo(db, f"sqlite:///{root / 'demo.db'}", until)
    db.close()


@pytest.fixture
def cli(demo: Demo, monkeypatch: pytest.MonkeyPatch) -> Iterator[Demo]:
    monkeypatch.setenv("JOURNEYFLOW_DATABASE_URL", demo.url)
    # A wide terminal: names whole, not folded into narrow cells.
    monkeypatch.setattr(cli_report.console, "width", 240)
    yield demo
    dispose_engines()


def stamp(moment: datetime) -> str:
    """The store's SQLite text form of a time (fixed width, so text compares as time)."""
    return moment.isoformat(" ", "microseconds")[:26]


def report_json(demo: Demo, *args: str) -> dict[str, Any]:
    period = ["--since", SINCE.date().isoformat(), "--until", demo.until.isoformat()]
    result = runner.invoke(app, ["report", *period, "--json", *args])
    assert result.exit_code == 0, result.output
    document: dict[str, Any] = json.loads(result.output)
    return document


def test_the_funnel_is_the_store_own_counts(cli: Demo) -> None:
    report = report_json(cli)
    db, since, until = cli.db, stamp(SINCE), stamp(cli.until)
    now_in = Counter(
        {
            (j, s): n
            for j, s, n in db.execute(
                "select journey, stage, count(*) from enrollment "
                "where status in ('active', 'completed') group by journey, stage"
            )
        }
    )
    entered = Counter(
        {
            (j, s): n
            for j, s, n in db.execute(
                "select journey, to_stage, count(distinct customer_id) from stage_transition "
                "where at >= ? and at < ? group by journey, to_stage",
                (since, until),
            )
        }
    )
    stages = report["stages"]
    assert +Counter({(r["journey"], r["stage"]): r["in_stage"] for r in stages}) == now_in
    assert +Counter({(r["journey"], r["stage"]): r["entered"] for r in stages}) == entered
    assert {r["journey"] for r in stages} == {j.journey for j in load_journeys()}  # every one
    goals = db.execute(
        "select count(*) from enrollment where status = 'goal' and ended_at >= ? and ended_at < ?",
        (since, until),
    ).fetchone()[0]
    assert sum(r["goal"] for r in report["outcomes"]) == goals > 0


def test_messages_codes_reviews_and_retention_are_the_store_own_counts(cli: Demo) -> None:
    report = report_json(cli)
    db, since, until = cli.db, stamp(SINCE), stamp(cli.until)
    in_period = (
        "coalesce(send_started_at, updated_at) >= ? and coalesce(send_started_at, updated_at) < ?"
    )
    sent = dict(
        db.execute(
            "select journey, count(*) from action_run where status in ('sent', 'unknown') "
            f"and kind in ('email', 'sms') and {in_period} group by journey",
            (since, until),
        ).fetchall()
    )
    by_journey: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for m in report["messages"]:
        by_journey[m["journey"]] += m["sent"]
        skipped[m["journey"]] += m["skipped"]["no consent"]
    assert dict(+by_journey) == sent
    no_consent = dict(
        db.execute(
            "select journey, count(*) from action_run where status = 'skipped' "
            "and last_error = 'no consent' and kind in ('email', 'sms') "
            "and updated_at >= ? and updated_at < ? group by journey",
            (since, until),
        ).fetchall()
    )
    assert dict(+skipped) == no_consent

    issued = dict(
        db.execute(
            "select p.campaign, count(*) from promo_code p join action_run a "
            "on a.idempotency_key = p.action_idempotency_key "
            f"where a.status = 'sent' and {in_period.replace('send_', 'a.send_')} "
            "group by p.campaign",
            (since, until),
        ).fetchall()
    )
    per_campaign: Counter[str] = Counter()
    for p in report["promos"]:
        per_campaign[p["campaign"]] += p["issued"]
    assert dict(+per_campaign) == issued

    ratings = Counter(
        str(json.loads(payload).get("rating"))
        for (payload,) in db.execute(
            "select payload from inbound_event where type = 'review.submitted' "
            "and occurred_at >= ? and occurred_at < ?",
            (since, until),
        )
    )
    (whole,) = [r for r in report["ratings"] if r["journey"] is None]
    assert +Counter(whole["ratings"]) == ratings and whole["other"] == 0

    buyers = """select count(distinct customer_id) from inbound_event
                where type = 'order.completed' and occurred_at >= ? and occurred_at < ?"""
    year = timedelta(days=365)
    at_start = db.execute(buyers, (stamp(SINCE - year), since)).fetchone()[0]
    at_end = db.execute(buyers, (stamp(cli.until - year), until)).fetchone()[0]
    (crr,) = [r for r in report["retention"] if r["journey"] is None]
    assert (crr["at_start"], crr["at_end"]) == (at_start, at_end)
    assert crr["crr_pct"] == pytest.approx(100 * (at_end - crr["new"]) / at_start)


def test_crr_counts_the_purchase_event_in_the_window_given(cli: Demo) -> None:
    report = report_json(cli, "--purchase-event", "order.delivered", "--lookback", "30d")
    assert report["definitions"]["purchase_event"] == "order.delivered"
    assert report["definitions"]["lookback_days"] == 30
    buyers = """select count(distinct customer_id) from inbound_event
                where type = 'order.delivered' and occurred_at >= ? and occurred_at < ?"""
    month = timedelta(days=30)
    at_start = cli.db.execute(buyers, (stamp(SINCE - month), stamp(SINCE))).fetchone()[0]
    (crr,) = [r for r in report["retention"] if r["journey"] is None]
    assert crr["at_start"] == at_start


def test_tables_for_one_journey_split_by_country(cli: Demo) -> None:
    period = ["--since", "2026-10-01", "--until", cli.until.date().isoformat()]
    result = runner.invoke(app, ["report", "customer_lifecycle", *period, "--by", "country"])
    assert result.exit_code == 0, result.output
    out = result.output
    (version,) = [j.version for j in load_journeys() if j.journey == "customer_lifecycle"]
    assert f"customer_lifecycle v{version}" in out and "five_phases" not in out
    for title in ("Funnel", "Conversion per edge", "Enrollments", "KPIs", "Messages"):
        assert title in out
    assert "country" in out and "review_request" in out


def test_html_writes_one_page_of_the_same_figures(cli: Demo, tmp_path: Path) -> None:
    page = tmp_path / "reports" / "september.html"
    period = ["--since", SINCE.date().isoformat(), "--until", cli.until.isoformat()]

    result = runner.invoke(app, ["report", *period, "--html", str(page)])

    assert result.exit_code == 0, result.output
    assert f"wrote {page}" in " ".join(result.output.split())
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and "Plotly.newPlot" in html
    versions = cli.db.execute("select distinct journey, version from enrollment").fetchall()
    assert versions
    for journey, version in versions:  # a section, its funnel and its map for each
        assert f'id="{journey}-v{version}"' in html
        assert f'id="funnel-{journey}-v{version}"' in html
    registered = cli.db.execute("select count(distinct journey) from journey_version").fetchone()
    assert html.count('<svg role="img" aria-label="Journey map of ') == registered[0]
    answers = cli.db.execute(
        "select count(*) from survey_response where kind = 'csat' and at >= ? and at < ?",
        (stamp(SINCE), stamp(cli.until)),
    ).fetchone()[0]
    assert f"of {answers} answers were 4 or 5" in html if answers else "no CSAT answers" in html
    # A folder is no file: a clear error, no traceback.
    bad = runner.invoke(app, ["report", *period, "--html", str(tmp_path)])
    assert bad.exit_code == 1 and "--html: cannot write" in bad.output
    assert "Traceback" not in bad.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["customer_lifecycel"], 1, "unknown journey 'customer_lifecycel'"),
        (["--since", "2026-12-01", "--until", "2026-11-01"], 2, "must be before until"),
        (["--since", "2026-02-30"], 2, "'2026-02-30' is no date"),
        (["--until", "yesterday"], 2, "'yesterday' is no date"),
        (["--until", "9999-12-31T23:59:59-01:00"], 2, "outside the years 1 to 9999"),
        (["--by", "city"], 2, "'city' is not one of"),
        (["--version", "2"], 2, "version: name the journey"),
        (["five_phases", "--version", "9"], 2, "has no version 9"),
        (["--lookback", "a year"], 2, "'a year' is not a duration"),
        (["--lookback", "0s"], 2, "lookback must be longer than 0"),
    ],
)
def test_bad_options_are_clear_errors(cli: Demo, args: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == code, result.output
    # Typer draws its errors in a box: read the words, not the frame.
    words = " ".join(result.output.translate(str.maketrans("", "", "│╭╮╰╯─")).split())
    assert message in words
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output


@given(
    st.one_of(
        st.text(max_size=40),
        st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(str),
        st.dates().map(str),
    )
)
def test_any_text_is_a_moment_or_a_bad_parameter(text: str) -> None:
    try:
        moment = cli_report.parse_moment(text, "--since")
    except typer.BadParameter as exc:
        assert exc.param_hint == "'--since'" and text in exc.message
    else:
        assert moment.tzinfo is UTC
