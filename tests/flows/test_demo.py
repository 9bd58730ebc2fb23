"""The main job on the embedded default: shipped journeys, sample stream, SQLite file."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import sqlite3
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.demo import DemoReport, report_path, run_demo
from flows.sample_data import SAMPLE_PATH, generate
from flows.sample_people import SAMPLE_CONSENT, SAMPLE_CUSTOMERS, consent_csv, customers_csv


def test_the_bundled_sample_is_what_the_generator_makes() -> None:
    # The committed file must be reproducible from the generator (seeded, deterministic).
    lines = SAMPLE_PATH.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == generate()


def test_the_bundled_customers_and_consent_are_what_the_generator_makes() -> None:
    events = generate()
    customers = customers_csv(events)
    assert SAMPLE_CUSTOMERS.read_text(encoding="utf-8") == customers
    ids = [line.split(",", 1)[0] for line in customers.splitlines()[1:]]
    assert len(ids) == len({e["customer_id"] for e in events})
    assert SAMPLE_CONSENT.read_text(encoding="utf-8") == consent_csv(ids)


def generated_events(tmp_path: Path, customers: int = 5) -> Path:
    events = tmp_path / "small.jsonl"
    events.write_text(
        "".join(json.dumps(e) + "\n" for e in generate(customers=customers, seed=3)),
        encoding="utf-8",
    )
    return events


@pytest.fixture(scope="module")
def bundled(tmp_path_factory: pytest.TempPathFactory) -> DemoReport:
    """The demo on the bundled sample, as `journeyflow demo` runs it, into a fresh folder:
    about 15 s, so the tests that read its results share one run (they only read)."""
    return run_demo(tmp_path_factory.mktemp("bundled") / "demo.db")


def test_demo_applies_each_event_once_and_fills_every_journey(
    bundled: DemoReport, tmp_path: Path
) -> None:
    raw = [json.loads(line) for line in SAMPLE_PATH.read_text(encoding="utf-8").splitlines()]
    deliveries = Counter((e["source"], e["external_id"]) for e in raw)
    report, database = bundled, bundled.database

    assert report.result.events == len(deliveries)
    assert report.result.duplicates == sum(n - 1 for n in deliveries.values()) > 0
    db = sqlite3.connect(database)
    assert db.execute("select count(*) from inbound_event").fetchone() == (len(deliveries),)
    # The funnel agrees with the tables it summarises.
    transitions = dict(
        db.execute(
            "select journey || '.' || to_stage, count(distinct customer_id) "
            "from stage_transition group by journey, to_stage"
        ).fetchall()
    )
    for row in report.funnel:
        assert row.entered == transitions.get(f"{row.journey}.{row.stage}", 0)
    # One team's set of the shipped journeys, not four models of the same journey.
    journeys = {j.journey for j in report.journeys}
    assert journeys == {
        "customer_lifecycle",
        "newsletter_opt_in",
        "event_registration",
        "abandoned_cart",
        "birthday_club",
    }
    assert {row.journey for row in report.funnel if row.entered} == journeys
    # Every stage of every journey it runs is reached by some persona of the sample.
    assert [f"{r.journey}.{r.stage}" for r in report.funnel if r.entered == 0] == []
    # Timers ran on the virtual clock: 60 quiet days in loyalty make customers dormant.
    dormant = db.execute(
        "select count(*) from stage_transition where to_stage = 'dormant' "
        "and cause = 'timer:no_event_for:60d'"
    ).fetchone()[0]
    assert dormant > 0
    assert sum(report.actions.values()) == report.result.actions_scheduled
    # Skipped actions, by why: the cancelled ones the engine counted (the customer left
    # the stage first) and the holdouts dispatch counted; the same numbers everywhere.
    skipped: Counter[str] = Counter()
    for (_, _, status, why), n in report.actions.items():
        if status == "skipped":
            skipped[why] += n
    # Its journeys never send the same message on one event: nothing skipped for that.
    # The send rules skipped for consent, the dispatch for holdouts: counted once each.
    no_consent = report.held[("skipped", "no consent")]
    unsubscribed = report.held[("skipped", "unsubscribed")]
    assert skipped == Counter(
        {
            "left the stage before it was due": report.result.actions_cancelled,
            "holdout": report.dispatch.outcomes["skipped"] - no_consent - unsubscribed,
            "no consent": no_consent,
            "unsubscribed": unsubscribed,
        }
    )
    assert not report.replaced
    # Run again over (a copy of) its files: the results of the run before are replaced.
    again = Path(shutil.copy(database, tmp_path / "demo.db"))
    assert run_demo(again, generated_events(tmp_path)).replaced


def test_demo_imports_consent_and_the_send_rules_hold_marketing_to_it(
    bundled: DemoReport,
) -> None:
    report, database = bundled, bundled.database

    customers, consent = report.imported
    consent_rows = SAMPLE_CONSENT.read_text(encoding="utf-8").count("\n") - 1
    assert (customers.created, customers.rejected) == (_ids(), 0)
    assert (consent.created, consent.rejected) == (consent_rows, 0)
    db = sqlite3.connect(database)
    # Every marketing email and SMS that reached the dispatcher, with the customer's
    # consent on its channel (none, pending, subscribed, unsubscribed).
    rows = db.execute(
        "select a.status, coalesce(a.last_error, ''), coalesce(c.status, 'none'), count(*)"
        " from action_run a left join consent c"
        " on c.customer_id = a.customer_id and c.channel = a.kind"
        " where a.kind in ('email', 'sms')"
        " and coalesce(json_extract(a.params, '$.marketing'), 1) != 0"
        " and not (a.status = 'skipped' and (a.last_error like '%same event%'"
        " or a.last_error in ('left the stage before it was due', 'holdout')))"
        " group by 1, 2, 3"
    ).fetchall()
    by = Counter({(status, why, held): n for status, why, held, n in rows})
    # Marketing goes only to customers who subscribed to its channel.
    assert {held for (status, _, held) in by if status == "sent"} == {"subscribed"}
    assert by[("sent", "", "subscribed")] > 0
    # Everyone never asked for consent who reached a marketing action was skipped for it.
    never = sum(n for (_, _, held), n in by.items() if held == "none")
    assert never == by[("skipped", "no consent", "none")] > 0
    # The demo counts exactly the skips for no consent there are: customers never asked,
    # or whose double opt-in is pending (a sign-up after an unsubscribe is pending too).
    no_consent = Counter({held: n for (_, why, held), n in by.items() if why == "no consent"})
    assert set(no_consent) == {"none", "pending"}
    assert no_consent.total() == report.held[("skipped", "no consent")]
    unsubscribed = sum(n for (_, why, _), n in by.items() if why == "unsubscribed")
    assert unsubscribed == report.held[("skipped", "unsubscribed")] > 0


def stamp(moment: datetime) -> str:
    """The store's SQLite text form of a time (fixed width: text compares as time)."""
    return moment.astimezone(UTC).isoformat(" ", "microseconds")[:26]


def test_the_demo_ends_with_a_report_where_no_figure_is_empty(bundled: DemoReport) -> None:
    """Its customers answered surveys, clicked, used codes and reviewed: the report of
    its period counts what the store holds, read here straight from the file."""
    assert bundled.insight is not None and bundled.html == report_path(bundled.database)
    assert bundled.html.is_file() and bundled.html.stat().st_size > 0
    report, before = bundled.insight.report, bundled.insight.previous
    assert report.since is not None and before is not None and before.until == report.since
    db = sqlite3.connect(bundled.database)
    period = (stamp(report.since), stamp(report.until))

    def count(sql: str) -> int:
        value: int = db.execute(sql, period).fetchone()[0]
        return value

    everyone = [r for r in report.csat if r.journey is None]
    answers = count(
        "select count(*) from survey_response where kind = 'csat' and at >= ? and at < ?"
    )
    assert [r.answers for r in everyone] == [answers] and answers > 0
    sent_in_period = (
        "a.status in ('sent', 'unknown') and a.kind in ('email', 'sms') "
        "and coalesce(a.send_started_at, a.updated_at) >= ? "
        "and coalesce(a.send_started_at, a.updated_at) < ?"
    )
    clicked = count(
        "select count(distinct a.id) from action_run a join message_event m "
        f"on m.action_run_id = a.id and m.event = 'click' where {sent_in_period}"
    )
    assert sum(m.clicked for m in report.messages) == clicked > 0
    assert sum(d.sent for d in report.messages_by_day) == sum(m.sent for m in report.messages)
    redeemed = count("select count(*) from promo_code where redeemed_at >= ? and redeemed_at < ?")
    assert sum(p.redeemed_in_period for p in report.promos) == redeemed > 0
    reviews = count(
        "select count(*) from inbound_event where type = 'review.submitted' "
        "and occurred_at >= ? and occurred_at < ?"
    )
    assert [r.reviews for r in report.ratings if r.journey is None] == [reviews] and reviews > 0
    assert all(r.crr_pct is not None for r in report.retention if r.journey is None)
    (test,) = bundled.insight.abtests
    assert all(a.recipients > 0 for a in test.arms)
    assert sum(a.conversions for a in test.arms) > 0  # clicks on the referral request
    # Its journeys ask no NPS question (moments_of_truth does): no NPS answers to count.
    assert db.execute("select count(*) from survey_response where kind = 'nps'").fetchone() == (0,)
    assert report.nps == []


def _ids() -> int:
    return SAMPLE_CUSTOMERS.read_text(encoding="utf-8").count("\n") - 1


def test_demo_command_prints_the_funnel_and_fills_the_outbox(tmp_path: Path) -> None:
    # A small stream of the same personas: the full one is exercised above.
    events = tmp_path / "events.jsonl"
    events.write_text(
        "".join(json.dumps(e) + "\n" for e in generate(customers=25, seed=3)), encoding="utf-8"
    )
    outbox = tmp_path / "outbox"

    result = CliRunner().invoke(
        app,
        [
            "demo",
            "--database",
            str(tmp_path / "d.db"),
            "--events",
            str(events),
            "--outbox",
            str(outbox),
        ],
    )

    assert result.exit_code == 0, result.output
    assert "Stage funnel" in result.output
    # It says which journeys it runs, and why those: one coherent set, no overlaps.
    said = " ".join(result.output.split())
    assert (
        "journeys run: abandoned_cart, birthday_club, customer_lifecycle, event_registration, "
        "newsletter_opt_in (the demo's set" in said
    )
    for key in ("five_phases", "moments_of_truth", "omnichannel_retail"):
        assert key not in result.output
    mails = sorted(outbox.glob("*/*.eml"))
    assert mails, "the demo writes the messages that fell due to the outbox"
    parsed = email.message_from_bytes(mails[0].read_bytes(), policy=email.policy.default)
    assert parsed["To"] and parsed["Subject"]
    assert " ".join(result.output.split()).count(f"{len(mails)} email") == 1
    # It ends with its KPIs and the report file next to its database.
    assert "KPIs of the period" in result.output and "main next step" in result.output
    assert f"report: {tmp_path / 'd-report.html'}" in " ".join(result.output.split())
    assert (tmp_path / "d-report.html").is_file()
