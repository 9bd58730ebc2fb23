"""A report made by hand for the HTML page's tests: every figure is chosen here, so a
test knows what the page must show without computing it the way the code does."""

from __future__ import annotations

from datetime import UTC, date, datetime

from journeys.abverdict import AbTestResult, ArmCount, judge
from journeys.journey_map import journey_map, with_counts
from journeys.loader import parse_journey
from journeys.model_abtest import AbTest
from journeys.store.reports import (
    CsatRow,
    DayRow,
    Definitions,
    EdgeRow,
    MessageRow,
    NpsRow,
    OutcomeRow,
    Report,
    RetentionRow,
    StageRow,
    TimeInStageRow,
)

SINCE, UNTIL = datetime(2026, 9, 1, tzinfo=UTC), datetime(2026, 10, 1, tzinfo=UTC)
BEFORE = datetime(2026, 8, 2, tzinfo=UTC)
HOSTILE = '<b>Probe & "Test"</b>'  # a stage title a marketer might write

JOURNEY_YAML = f"""\
journey: shop
version: 1
name: {{de: Laden, en: Shop}}
locale: de
locales: [de, en]
stages:
  - key: browsing
    title: {{de: Stöbern, en: '{HOSTILE}'}}
    enter_when: {{event: product.viewed}}
    on_enter: [{{email: buying_guide}}]
  - key: purchase
    title: {{de: Kauf, en: Purchase}}
    enter_when: {{event: order.completed}}
    on_enter:
      - email: thank_you
        variants:
          - {{key: plain, weight: 45, template: thank_you}}
          - {{key: coupon, weight: 45, template: thank_you}}
          - {{key: holdout, weight: 10}}
  - key: loyal
    title: {{de: Treu, en: Loyal}}
    enter_when: {{event: review.submitted, from: [purchase]}}
    final: true
"""

DEFINITIONS = Definitions(
    purchase_event="order.completed",
    lookback_days=365,
    review_event="review.submitted",
    rating_field="rating",
    review_templates=["review_request"],
    value_field="total",
    currency_field="currency",
)
KEY = {"journey": "shop", "version": 1}
WHOLE = {"journey": None, "version": None}


def _message(template: str, sent: int, delivered: int, opened: int, clicked: int) -> MessageRow:
    return MessageRow(
        **KEY,
        template=template,
        channel="email",
        locale="de",
        sent=sent,
        delivered=delivered,
        opened=opened,
        clicked=clicked,
        bounced=sent - delivered,
        complained=0,
        unsubscribed=0,
        failed=0,
        skipped={},
        deferred={},
        delivered_pct=100 * delivered / sent,
        bounced_pct=100 * (sent - delivered) / sent,
        opened_pct=100 * opened / delivered,
        clicked_pct=100 * clicked / delivered,
        complained_pct=0.0,
        unsubscribed_pct=0.0,
    )


def _time(stage: str, median_days: float, p90_days: float) -> TimeInStageRow:
    day = 86_400
    return TimeInStageRow(
        **KEY,
        stage=stage,
        population="left",
        n=10,
        median_s=median_days * day,
        p90_s=p90_days * day,
        mean_s=median_days * day,
        max_s=int(p90_days * day),
    )


def report() -> Report:
    """September 2026: 120 browsed, 48 bought, 12 became loyal; CSAT 80 % of 50 answers,
    NPS +20 of 40, CRR 75 %; 130 emails over three days."""
    return Report(
        since=SINCE,
        until=UNTIL,
        journey=None,
        version=None,
        by=None,
        definitions=DEFINITIONS,
        notes=[],
        stages=[
            StageRow(**KEY, stage="browsing", in_stage=70, entered=120, exited=0, goal=0),
            StageRow(**KEY, stage="purchase", in_stage=36, entered=48, exited=0, goal=0),
            StageRow(**KEY, stage="loyal", in_stage=12, entered=12, exited=0, goal=0),
        ],
        edges=[
            EdgeRow(
                **KEY, from_stage="browsing", to_stage="purchase", moved=48, conversion_pct=40.0
            ),
            EdgeRow(**KEY, from_stage="purchase", to_stage="loyal", moved=12, conversion_pct=25.0),
        ],
        outcomes=[OutcomeRow(**KEY, enrolled=120, completed=12, exited=0, goal=0, goal_pct=0.0)],
        time_in_stage=[_time("browsing", 2.0, 6.5), _time("purchase", 9.0, 20.0)],
        csat=[
            CsatRow(**row, answers=50, satisfied=40, csat_pct=80.0, low_pct=66.9, high_pct=88.8)
            for row in (WHOLE, KEY)
        ],
        nps=[
            NpsRow(
                **row,
                answers=40,
                promoters=16,
                passives=16,
                detractors=8,
                nps=20.0,
                low=-2.5,
                high=42.5,
            )
            for row in (WHOLE, KEY)
        ],
        retention=[
            RetentionRow(**row, at_start=40, at_end=42, new=12, crr_pct=75.0)
            for row in (WHOLE, KEY)
        ],
        ratings=[],
        review_requests=[],
        promos=[],
        messages=[_message("buying_guide", 100, 96, 48, 12), _message("thank_you", 30, 30, 21, 9)],
        messages_by_day=[
            DayRow(
                **KEY,
                day=date(2026, 9, d),
                sent=s,
                delivered=s,
                opened=s // 2,
                clicked=s // 5,
                bounced=0,
            )
            for d, s in ((2, 40), (3, 50), (5, 40))
        ],
    )


def previous() -> Report:
    """August: CSAT 75 %, NPS +25; no customers at its start, so no CRR."""
    now = report()
    return now.model_copy(
        update={
            "since": BEFORE,
            "until": SINCE,
            "csat": [c.model_copy(update={"csat_pct": 75.0}) for c in now.csat],
            "nps": [n.model_copy(update={"nps": 25.0}) for n in now.nps],
            "retention": [],
        }
    )


def abtest() -> AbTestResult:
    test = AbTest(metric="click")
    counts = [ArmCount("plain", False, 200, 20), ArmCount("coupon", False, 210, 42)]
    counts.append(ArmCount("holdout", True, 40, 0))
    arms, decision = judge(counts, test, holdout_converts=False)
    return AbTestResult(
        journey="shop",
        stage="purchase",
        action="thank_you",
        metric="click",
        within="2w",
        min_sample=test.min_sample,
        threshold=test.probability_to_be_best,
        since=SINCE,
        until=UNTIL,
        arms=arms,
        decision=decision,
    )


def insight(**changes: object) -> object:
    from flows.insight import Insight

    journey = parse_journey(JOURNEY_YAML, "shop.yaml")[0]
    stages = {"browsing": (70, 300), "purchase": (36, 90), "loyal": (12, 12)}
    moves = {(None, "browsing"): 300, ("browsing", "purchase"): 90, ("purchase", "loyal"): 12}
    drawn = with_counts(journey_map(journey, "en"), stages, moves)
    fields = {
        "report": report(),
        "previous": previous(),
        "abtests": [abtest()],
        "maps": [drawn],
        "map_locales": {"shop": "en"},
        "database": "sqlite:///var/test.db",
        "generated_at": UNTIL,
    }
    return Insight(**{**fields, **changes})  # type: ignore[arg-type]
