"""A large store for the report benchmark, written fast with raw `executemany`.

The shipped `customer_lifecycle` journey is registered the normal way; then per
customer: one enrollment walking the journey's stages (on average `transitions /
customers` stage entries, over two years), a message for each visit to a stage that
sends one (sent, skipped for consent or as the A/B holdout, a few failed), what the
provider reported (delivered, opened, clicked), survey answers after customer care,
orders and reviews as inbound events, and promo codes (some redeemed at an order).
Seeded, so two runs make the same store.
"""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from journeys import load_journeys
from journeys.store import JourneyRegistry, create_db_engine, create_schema, session_scope

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
JOURNEY = "customer_lifecycle"
# The way through the journey a customer walks, as far as their number of entries goes.
PATH = [
    "information_search", "comparing_offers", "decision", "receiving_offer", "evaluation",
    "loyalty", "recommendation", "decision", "receiving_offer", "evaluation",
    "customer_care", "loyalty", "recommendation", "dormant", "decision", "receiving_offer",
    "evaluation", "loyalty", "recommendation", "dormant",
]  # fmt: skip
MESSAGES = {  # stage -> (kind, template, campaign of its promo code)
    "comparing_offers": ("email", "buying_guide", None),
    "decision": ("email", "thank_you", None),
    "receiving_offer": ("email", "getting_started", None),
    "evaluation": ("email", "review_request", "review_thanks"),
    "customer_care": ("email", "csat_survey", None),
    "loyalty": ("email", "loyalty_offer", "loyalty"),
    "recommendation": ("email", "referral_request", None),
    "dormant": ("sms", "we_miss_you", "winback"),
}
VARIANTS = (("personal", "referral_request"), ("reward", "referral_reward"), ("holdout", None))


def stamp(moment: datetime) -> str:
    """The store's SQLite form of a UTC time."""
    return moment.isoformat(" ", "microseconds")[:26]


@dataclass
class Rows:
    customer: list[tuple[Any, ...]] = field(default_factory=list)
    enrollment: list[tuple[Any, ...]] = field(default_factory=list)
    transition: list[tuple[Any, ...]] = field(default_factory=list)
    action: list[tuple[Any, ...]] = field(default_factory=list)
    report: list[tuple[Any, ...]] = field(default_factory=list)
    survey: list[tuple[Any, ...]] = field(default_factory=list)
    event: list[tuple[Any, ...]] = field(default_factory=list)
    code: list[tuple[Any, ...]] = field(default_factory=list)

    def size(self) -> int:
        return sum(len(v) for v in vars(self).values())


INSERTS = {
    "customer": "INSERT INTO customer (id, external_id, email, locale, country, attributes,"
    " created_at, updated_at) VALUES (?, ?, ?, ?, ?, '{}', ?, ?)",
    "enrollment": "INSERT INTO enrollment (id, customer_id, journey, version, number, stage,"
    " status, entered_at, stage_entered_at, stage_entry, last_event_at, ended_at)"
    " VALUES (?, ?, ?, 1, 1, ?, ?, ?, ?, ?, ?, ?)",
    "transition": "INSERT INTO stage_transition (enrollment_id, journey, customer_id, from_stage,"
    " to_stage, stage_entry, cause, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "action": "INSERT INTO action_run (id, idempotency_key, enrollment_id, journey, customer_id,"
    " stage, stage_entry, action_key, kind, template, variant, params, due_at, status,"
    " attempts, last_error, cancel_on_leave, created_at, updated_at, send_started_at, crashes)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '{}', ?, ?, 1, ?, 0, ?, ?, ?, 0)",
    "report": "INSERT INTO message_event (action_run_id, provider, event, at, detail, received_at)"
    " VALUES (?, 'sendgrid', ?, ?, '{}', ?)",
    "survey": "INSERT INTO survey_response (customer_id, kind, score, journey, stage, at,"
    " action_idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
    "event": "INSERT INTO inbound_event (source, external_id, type, customer_id, occurred_at,"
    " payload, received_at, processed_at) VALUES ('shop', ?, ?, ?, ?, ?, ?, ?)",
    "code": "INSERT INTO promo_code (code, customer_id, campaign, discount, expires_at,"
    " redeemed_at, action_idempotency_key, created_at) VALUES (?, ?, ?, '10%', ?, ?, ?, ?)",
}


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.action_id = 0
        self.event_id = 0

    def customer(self, n: int, entries: int, rows: Rows) -> None:
        rng = self.rng
        at = START + SPAN * rng.random() * 0.9
        locale, country = rng.choice((("de", "DE"), ("de", "AT"), ("en", "DE"), ("de", "CH")))
        person = (f"c{n}", f"c{n}@example.org", locale, country)
        rows.customer.append((n, *person, stamp(at), stamp(at)))
        previous: str | None = None
        for entry, stage in enumerate(PATH[:entries], start=1):
            rows.transition.append(
                (n, JOURNEY, n, previous, stage, entry, "event:shop:x", stamp(at))
            )
            self.visit(n, stage, entry, at, rows)
            previous = stage
            at += timedelta(hours=rng.uniform(6, 24 * 20))
        status = "completed" if previous == "dormant" else "active"
        ended = None
        if status == "active" and rng.random() < 0.03:
            status, ended = "exited", stamp(at)
        first = rows.transition[-entries][7]
        rows.enrollment.append(
            (n, n, JOURNEY, previous, status, first, stamp(at), entries, stamp(at), ended)
        )

    def visit(self, n: int, stage: str, entry: int, at: datetime, rows: Rows) -> None:
        rng = self.rng
        if stage == "decision":
            self.order(n, at, rows)
        if stage == "evaluation" and rng.random() < 0.5:
            review = {"rating": rng.randint(1, 5)}
            self.event(n, "review.submitted", at + timedelta(days=2), review, rows)
        if stage not in MESSAGES:
            return
        kind, template, campaign = MESSAGES[stage]
        variant = None
        if stage == "recommendation":
            variant, template = rng.choices(VARIANTS, (45, 45, 10))[0]  # type: ignore[assignment]
        self.action_id += 1
        key = f"{self.action_id:032x}"
        due = at + timedelta(hours=2)
        roll = rng.random()
        status, error, started = "sent", None, stamp(due)
        if template is None:
            status, error, started = "skipped", "holdout", None
        elif roll < 0.08:
            status, error, started = "skipped", "no consent", None
        elif roll < 0.09:
            status, error = "failed", "retries used up"
        action_key = "referral_request" if stage == "recommendation" else template
        rows.action.append(
            (self.action_id, key, n, JOURNEY, n, stage, entry, action_key, kind, template,
             variant, stamp(due), status, error, stamp(due), stamp(due), started)
        )  # fmt: skip
        if status == "sent":
            self.reports(due, rng, rows)
            if template == "csat_survey" and rng.random() < 0.6:
                score = rng.choice((1, 2, 3, 4, 4, 5, 5, 5))
                answered = stamp(due + timedelta(hours=5))
                rows.survey.append((n, "csat", score, JOURNEY, stage, answered, key))
        if campaign is not None and status == "sent":
            expires = due + timedelta(days=30)
            redeemed = None
            if rng.random() < 0.2:
                when = due + timedelta(days=rng.uniform(1, 29))
                redeemed = stamp(when)
                code = f"CODE-{self.action_id}"
                self.event(n, "order.completed", when, {"total": 49.9, "currency": "EUR",
                           "promo_code": code}, rows)  # fmt: skip
            rows.code.append(
                (f"CODE-{self.action_id}", n, campaign, stamp(expires), redeemed, key, stamp(due))
            )

    def reports(self, at: datetime, rng: random.Random, rows: Rows) -> None:
        if rng.random() < 0.03:
            rows.report.append((self.action_id, "bounce", stamp(at), stamp(at)))
            return
        delivered = stamp(at + timedelta(minutes=1))
        rows.report.append((self.action_id, "delivered", delivered, stamp(at)))
        if rng.random() < 0.45:
            opened = at + timedelta(hours=rng.uniform(0.1, 48))
            rows.report.append((self.action_id, "open", stamp(opened), stamp(opened)))
            if rng.random() < 0.25:
                clicked = opened + timedelta(minutes=2)
                rows.report.append((self.action_id, "click", stamp(clicked), stamp(clicked)))

    def order(self, n: int, at: datetime, rows: Rows) -> None:
        self.event(n, "order.completed", at, {"total": 99.5, "currency": "EUR"}, rows)

    def event(self, n: int, kind: str, at: datetime, data: dict[str, Any], rows: Rows) -> None:
        self.event_id += 1
        when = stamp(at)
        rows.event.append((f"e{self.event_id}", kind, f"c{n}", when, json.dumps(data), when, when))


def fill(path: Path, customers: int, transitions: int, seed: int = 11) -> dict[str, int]:
    """A new SQLite store at `path` with `customers` customers and about `transitions`
    stage transitions; returns the rows written per table."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = create_db_engine(f"sqlite:///{path}")
    create_schema(engine)
    with session_scope(engine) as session:
        JourneyRegistry().register(session, [j for j in load_journeys() if j.journey == JOURNEY])
    engine.dispose()
    db = sqlite3.connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    written: dict[str, int] = {}
    generator = Generator(seed)
    mean = transitions / customers
    for rows in _batches(generator, customers, mean):
        with db:
            for table, insert in INSERTS.items():
                batch = getattr(rows, table)
                db.executemany(insert, batch)
                written[table] = written.get(table, 0) + len(batch)
    db.execute("ANALYZE")
    db.close()
    return written


def _batches(generator: Generator, customers: int, mean: float) -> Iterator[Rows]:
    rows = Rows()
    most = len(PATH)
    for n in range(1, customers + 1):
        # Entries spread around the mean, 1 to len(PATH): the total comes out near it.
        entries = max(1, min(most, round(generator.rng.triangular(1, 2 * mean - 1, mean))))
        generator.customer(n, entries, rows)
        if rows.size() >= 200_000:
            yield rows
            rows = Rows()
    yield rows
