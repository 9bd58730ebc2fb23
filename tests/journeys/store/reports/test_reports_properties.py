"""Random histories: the report is the same on SQLite and PostgreSQL, and every figure
matches the plain-Python computation of its definition (report_reference.py)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from report_factories import DAY, T0, Shop
from report_reference import Reference, Scope
from sqlalchemy import Engine

from journeys.store import session_scope
from journeys.store.outbox.claimed import ClaimedAction
from journeys.store.reports import SEGMENTS, Report, build_report
from journeys.store.reports.messages import DEFER_REASONS, SKIP_REASONS
from journeys.store.tables import metadata

CUSTOMERS = ["a", "b", "c", "d", "e"]
PATH = ["product.viewed", "order.completed", "order.delivered", "review.submitted"]
FATES = [("sent", None)] * 4 + [
    ("skipped", "no consent"),
    ("skipped", "holdout"),
    ("failed", "render error: x"),
    ("deferred", "quiet hours"),
    ("deferred", "frequency cap"),
]
REPORTS = ["delivered", "open", "click", "bounce", "spamreport", "unsubscribe"]

# One customer's story: how far along the shop's path they get, the gaps between their
# steps, how their enrollment ends (if it does), their review's rating, and whether
# they order again (with their code, when they have one).
story = st.tuples(
    st.integers(0, len(PATH)),
    st.lists(st.integers(1, 4 * 24 * 60), min_size=len(PATH) + 2, max_size=len(PATH) + 2),
    st.sampled_from([None, None, "subscription.started", "account.closed"]),
    st.one_of(st.integers(1, 5), st.sampled_from(["5", 4.5, True, None])),
    st.booleans(),
)
stories = st.fixed_dictionaries({c: story for c in CUSTOMERS})
profiles = st.fixed_dictionaries(
    {
        c: st.tuples(st.sampled_from(["de", "en", None]), st.sampled_from(["DE", "AT", None]))
        for c in CUSTOMERS
    }
)
scopes = st.tuples(
    st.one_of(st.none(), st.integers(0, 10 * 24)),  # since, hours after T0
    st.integers(1, 16 * 24),  # until, hours after since (or T0)
    st.sampled_from([None, *SEGMENTS]),
)


def _chance(seed: int, *parts: Any) -> int:
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def build(engine: Engine, history: dict[str, Any], people: dict[str, Any], seed: int) -> None:
    with engine.begin() as conn:
        for table in reversed(metadata.sorted_tables):
            conn.execute(table.delete())
    shop = Shop(engine)
    seen: set[str] = set()

    def fate(action: ClaimedAction) -> tuple[str, str | None]:
        return fate_of(action.idempotency_key)

    def fate_of(key: str) -> tuple[str, str | None]:
        return FATES[_chance(seed, key) % len(FATES)]

    def dispatch(at: datetime) -> None:
        """Send what is due; then a provider reports on some, customers answer some."""
        for key in shop.dispatch(at, fate):
            pick = _chance(seed, key, "report") % (len(REPORTS) + 2)  # sometimes none
            if fate_of(key)[0] == "sent" and pick < len(REPORTS):
                shop.provider_report(key, REPORTS[pick], at + timedelta(hours=1))
            if _chance(seed, key, "survey") % 3 == 0:
                kind = "nps" if _chance(seed, key, "kind") % 2 else "csat"
                low, high = (0, 10) if kind == "nps" else (1, 5)
                score = low + _chance(seed, key, "score") % (high - low + 1)
                shop.survey(key, kind, score, at + timedelta(hours=2))

    events = []
    for who, (depth, gaps, end, rating, again) in history.items():
        kinds = PATH[:depth] + ([end] if end and depth else []) + (["again"] if again else [])
        minutes = 0
        for kind, gap in zip(kinds, gaps, strict=False):
            minutes += gap
            events.append((minutes, who, kind, rating))
    for minutes, who, kind, rating in sorted(events):
        at = T0 + timedelta(minutes=minutes)
        locale, country = people[who]
        profile = None if who in seen else {"locale": locale, "country": country}
        seen.add(who)
        data: dict[str, Any] = {}
        if kind == "review.submitted" and rating is not None:
            data["rating"] = rating
        if kind in ("order.completed", "again"):
            data |= {"total": minutes % 997 / 10, "currency": "EUR"}
            code = shop.codes().get(who)
            if kind == "again" and code:
                data["promo_code"] = code
            kind = "order.completed"
        shop.event(kind, who, at, {k: v for k, v in (profile or {}).items() if v} or None, **data)
        if minutes % 3 == 0:
            dispatch(at)
    for day in (3, 6, 13):
        dispatch(T0 + day * DAY)


def report_of(engine: Engine, scope: Scope) -> Report:
    with session_scope(engine, readonly=True) as session:
        return build_report(session, since=scope.since, until=scope.until, by=scope.by)  # type: ignore[arg-type]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(stories, profiles, scopes, st.integers(0, 2**32))
def test_random_histories_give_the_same_figures_everywhere(
    stores: list[Engine], history: dict[str, Any], people: dict[str, Any], window: Any, seed: int
) -> None:
    since_h, length_h, by = window
    since = None if since_h is None else T0 + timedelta(hours=since_h)
    scope = Scope(since, (since or T0) + timedelta(hours=length_h), by)
    reports = []
    for engine in stores:
        build(engine, history, people, seed)
        reports.append(report_of(engine, scope))
    first = reports[0].model_dump()
    for other in reports[1:]:
        assert other.model_dump() == first  # PostgreSQL gives exactly SQLite's numbers
    check_against_reference(reports[0], Reference(stores[0], scope), scope)


def check_against_reference(report: Report, ref: Reference, scope: Scope) -> None:
    def key(row: Any) -> tuple[Any, ...]:
        return (row.journey, row.version, row.segment)

    f = ref.funnel()
    assert {(key(r), r.stage): r.in_stage for r in report.stages if r.in_stage} == f["in_stage"]
    assert {(key(r), r.stage): r.entered for r in report.stages if r.entered} == f["entered"]
    assert {(key(e), e.from_stage, e.to_stage): e.moved for e in report.edges} == f["edges"]
    ends = {(key(r), r.stage, "exited"): r.exited for r in report.stages if r.exited}
    ends |= {(key(r), r.stage, "goal"): r.goal for r in report.stages if r.goal}
    assert ends == f["ends"]
    for o in report.outcomes:
        counts = f["outcomes"].get(key(o), (0,) * 5)
        assert (o.enrolled, o.completed, o.exited, o.goal) == counts[:4]
        assert o.goal_pct == (100 * counts[4] / counts[0] if counts[0] else None)

    times = {
        (key(t), t.stage, t.population): (t.n, t.median_s, t.p90_s) for t in report.time_in_stage
    }
    expected = ref.time_in_stage()
    assert times.keys() == expected.keys()
    for k, (n, median, p90) in times.items():
        assert (n, median) == expected[k][:2] and p90 == pytest.approx(expected[k][2])

    surveys = {(*key(c), "csat"): (c.answers, c.satisfied, 0) for c in report.csat}
    surveys |= {(*key(n), "nps"): (n.answers, n.promoters, n.detractors) for n in report.nps}
    assert surveys == ref.surveys()

    ratings = {
        r.segment: {**r.ratings, "other": r.other} for r in report.ratings if r.journey is None
    }
    buckets = ("1", "2", "3", "4", "5", "other")
    assert ratings == {s: {b: c[b] for b in buckets} for s, c in ref.ratings().items()}

    if scope.since is not None:
        crr = {
            r.segment: (r.at_start, r.at_end, r.new) for r in report.retention if r.journey is None
        }
        assert crr == ref.retention(timedelta(days=365))

    got = {}
    for m in report.messages:
        counts = {
            "sent": m.sent,
            "delivered": m.delivered,
            "opened": m.opened,
            "bounced": m.bounced,
        }
        counts |= {f"skipped:{why}": n for why, n in m.skipped.items() if why != "other"}
        counts |= {f"deferred:{why}": n for why, n in m.deferred.items()}
        counts["failed:render error: x"] = m.failed
        got[(*key(m), m.template, m.channel, m.locale)] = {k: v for k, v in counts.items() if v}
    assert {k: v for k, v in got.items() if v} == _known(ref.messages())

    promos = {
        (*key(p), p.campaign): (p.issued, p.redeemed, p.redeemed_in_period) for p in report.promos
    }
    assert {k: v for k, v in promos.items() if any(v)} == ref.promos()


def _known(found: dict[tuple[Any, ...], dict[str, int]]) -> dict[tuple[Any, ...], dict[str, int]]:
    """The reference's counts of the reasons the report names (its `other` is not checked
    here: the history makes none but holdouts and voided messages)."""
    named = {f"skipped:{r}" for r in SKIP_REASONS} | {f"deferred:{r}" for r in DEFER_REASONS}
    named |= {"sent", "delivered", "opened", "bounced", "failed:render error: x"}
    out = {k: {n: c for n, c in v.items() if n in named} for k, v in found.items()}
    return {k: v for k, v in out.items() if v}
