"""CSAT, NPS and reviews: the issue's hand-computed examples, intervals against
statsmodels, reviews answered after a request."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from report_factories import DAY, T0, Shop
from scipy.stats import norm
from sqlalchemy import Engine
from statsmodels.stats.proportion import proportion_confint

from journeys.store import session_scope
from journeys.store.reports import (
    Period,
    ratings,
    review_requests,
    survey_kpis,
)

H = timedelta(hours=1)
UNTIL = T0 + 10 * DAY


def buying_guides(shop: Shop, n: int) -> list[str]:
    """n customers view a product; the idempotency keys of their buying guides."""
    for i in range(n):
        shop.event("product.viewed", f"c{i}", T0 - H, {"locale": "de" if i % 2 else "en"})
    keys = shop.keys("buying_guide")
    return [keys[f"c{i}"] for i in range(n)]


def test_csat_and_nps_of_the_issue_examples(engine: Engine) -> None:
    shop = Shop(engine)
    keys = buying_guides(shop, 11)
    for key, score in zip(keys[:4], [5, 4, 3, 1], strict=True):
        shop.survey(key, "csat", score, T0 + DAY)
    for key, score in zip(keys[4:10], [10, 9, 8, 7, 6, 0], strict=True):
        shop.survey(key, "nps", score, T0 + DAY)
    shop.survey(keys[10], "nps", 0, T0 + 20 * DAY)  # after the period
    shop.survey(keys[0], "csat", 2, T0 + 2 * DAY)  # answered again: 2 replaces 5

    with session_scope(engine, readonly=True) as session:
        csat, nps = survey_kpis(session.connection(), Period(since=T0, until=UNTIL))

    assert [(c.journey, c.version) for c in csat] == [(None, None), ("shop", 1)]
    whole, shop_v1 = csat
    assert shop_v1.model_dump(exclude={"journey", "version"}) == whole.model_dump(
        exclude={"journey", "version"}
    )
    assert (whole.answers, whole.satisfied, whole.csat_pct) == (4, 1, 25.0)  # 2, 4, 3, 1
    low, high = proportion_confint(1, 4, alpha=0.05, method="wilson")
    assert (whole.low_pct, whole.high_pct) == (pytest.approx(100 * low), pytest.approx(100 * high))

    score = nps[0]
    assert (score.answers, score.promoters, score.passives, score.detractors) == (6, 2, 2, 2)
    assert score.nps == 0.0  # 10, 9, 8, 7, 6, 0
    # The trinomial interval is the normal interval of the mean of +1 / 0 / −1 scores
    # with their variance (numpy's, over n).
    coded = np.array([1, 1, 0, 0, -1, -1])
    low, high = norm.interval(0.95, loc=coded.mean(), scale=coded.std() / np.sqrt(coded.size))
    assert (score.low, score.high) == (pytest.approx(100 * low), pytest.approx(100 * high))


def test_csat_by_locale(engine: Engine) -> None:
    shop = Shop(engine)
    keys = buying_guides(shop, 8)  # c0, c2, … en; c1, c3, … de
    for key, score in zip(keys, [5, 4, 3, 1, 5, 5, 5, 1], strict=True):
        shop.survey(key, "csat", score, T0 + DAY)
    with session_scope(engine, readonly=True) as session:
        csat, nps = survey_kpis(session.connection(), Period(until=UNTIL, by="locale"))
    by = {(c.journey, c.segment): c.csat_pct for c in csat}
    # en answered 5, 3, 5, 5; de answered 4, 1, 5, 1.
    assert by == {(None, "de"): 50, (None, "en"): 75, ("shop", "de"): 50, ("shop", "en"): 75}
    assert nps == []


def reviews_story(shop: Shop) -> None:
    """r0 … r3 get their delivery at T0; the review request is sent at T0 + 3d 1h (the
    CSAT SMS at T0 + 1d 1h).
    r0 reviews 5 after it, r1 2 after it, r2 3 before it, r3 never. Outsiders review too."""
    for i in range(4):
        shop.event("product.viewed", f"r{i}", T0 - 2 * H, {"country": "DE"})
        shop.event("order.completed", f"r{i}", T0 - H)
        shop.event("order.delivered", f"r{i}", T0)
    shop.dispatch(T0 + DAY + H)  # the CSAT SMS, a day after delivery
    shop.event("review.submitted", "r2", T0 + 2 * DAY, rating=3)
    shop.dispatch(T0 + 3 * DAY + H)
    shop.event("review.submitted", "r0", T0 + 4 * DAY, rating=5)
    shop.event("review.submitted", "r1", T0 + 5 * DAY, rating=2)
    shop.event("review.submitted", "x", T0 + DAY, rating="4")  # a string of a rating
    shop.event("review.submitted", "y", T0 + DAY, rating="great")
    shop.event("review.submitted", "z", T0 + DAY, rating=True)
    shop.event("review.submitted", "w", T0 + DAY, rating=4.5)
    shop.event("review.submitted", "v", T0 + 30 * DAY, rating=1)  # after the period


def test_ratings_and_requests_answered(engine: Engine) -> None:
    shop = Shop(engine)
    reviews_story(shop)
    with session_scope(engine, readonly=True) as session:
        period = Period(since=T0, until=UNTIL)
        found = ratings(session.connection(), period)
        asked = review_requests(session.connection(), period)

    whole, shop_v1 = found
    assert whole.journey is None
    assert whole.ratings == {"1": 0, "2": 1, "3": 1, "4": 1, "5": 1}  # r1, r2, x, r0
    assert (whole.other, whole.reviews, whole.mean_rating) == (3, 7, 3.5)  # y, z, w
    assert shop_v1.journey == "shop"  # only reviews after one of its requests: r0, r1
    assert shop_v1.ratings == {"1": 0, "2": 1, "3": 0, "4": 0, "5": 1}
    assert (shop_v1.other, shop_v1.reviews, shop_v1.mean_rating) == (0, 2, 3.5)
    (requests,) = asked
    assert (requests.requests, requests.answered, requests.answered_pct) == (4, 2, 50.0)


def test_requests_split_by_country_and_other_templates(engine: Engine) -> None:
    from journeys.store.reports import ReportOptions

    shop = Shop(engine)
    reviews_story(shop)
    with session_scope(engine, readonly=True) as session:
        split = review_requests(session.connection(), Period(until=UNTIL, by="country"))
        surveys = Period(until=UNTIL, options=ReportOptions(review_templates=("csat_survey",)))
        other = review_requests(session.connection(), surveys)
    assert [(r.segment, r.requests, r.answered) for r in split] == [("DE", 4, 2)]
    # The CSAT SMS went out a day after delivery: r2's review at 2 days follows it too.
    assert [(r.requests, r.answered) for r in other] == [(4, 3)]
