"""Reviews: the ratings customers gave, and how many review requests were answered.

The store keeps reviews as events (`review.submitted` with `rating` in its data, the
names are `ReportOptions`), not in a table of their own:

- ratings: reviews submitted in the period, by rating 1–5 (an integer, or a string
  of one); anything else counts as `other`. Rows with journey None cover every
  review; a journey's rows cover the reviews of customers it had sent a review
  request before they reviewed.
- requests: review requests (messages from a template named in
  `ReportOptions.review_templates`) sent in the period; `answered` are those whose
  customer submitted a review after the request went out and before `until`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CTE, Connection, Select, Subquery, case, func, literal, null, select

from ...kpi_math import pct
from ..people.consent import COUNTED_STATUSES, sent_at_column
from ..tables import action_run_t, customer_t, enrollment_t, inbound_event_t
from .period import Period, SliceKey, slice_of
from .rows import SliceRow, row_order, slice_fields
from .sqlfuncs import json_text

RATINGS = ("1", "2", "3", "4", "5")


class RatingRow(SliceRow):
    reviews: int
    ratings: dict[str, int]  # "1" … "5" -> reviews
    other: int  # reviews without a rating of 1 to 5
    mean_rating: float | None


class ReviewRequestRow(SliceRow):
    requests: int
    answered: int
    answered_pct: float | None


def _requests(period: Period) -> Subquery:
    """Review requests sent before `until`: id, customer_id, journey, version, sent_at."""
    a, e = action_run_t.c, enrollment_t.c
    return (
        select(a.id, a.customer_id, a.journey, e.version, sent_at_column.label("sent_at"))
        .select_from(action_run_t.join(enrollment_t, e.id == a.enrollment_id))
        .where(
            a.template.in_(period.options.review_templates),
            a.kind.in_(("email", "sms")),
            a.status.in_(COUNTED_STATUSES),
            sent_at_column < period.until,
            period.journeys(a.journey, e.version),
        )
        .subquery("requests")
    )


def _reviews(period: Period) -> Subquery:
    """Reviews before `until`: customer (id), occurred_at, rating bucket, [segment]."""
    return _review_rows(period).subquery("reviews")


def _materialized_reviews(period: Period) -> CTE:
    """The reviews computed once: joined to the first review requests as a plain
    subquery, SQLite folds them into the join and reads every event once per customer
    with a request (seconds for a few thousand customers)."""
    return _review_rows(period).cte("reviews").prefix_with("MATERIALIZED")


def _review_rows(period: Period) -> Select[Any]:
    i, c = inbound_event_t.c, customer_t.c
    rating = json_text(inbound_event_t.c.payload, period.options.rating_field)
    bucket = case((rating.in_(RATINGS), rating), else_=literal("other"))
    return (
        select(c.id.label("customer_id"), i.occurred_at, bucket.label("rating"), *period.segment())
        .select_from(inbound_event_t.outerjoin(customer_t, c.external_id == i.customer_id))
        .where(i.type == period.options.review_event, i.occurred_at < period.until)
    )


def ratings(conn: Connection, period: Period) -> list[RatingRow]:
    reviews = _materialized_reviews(period)
    rv = reviews.c
    seg: list[Any] = [rv.segment] if period.by else []
    queries = []
    if period.journey is None:
        queries.append(
            select(null().label("journey"), null().label("version"), *seg, rv.rating, func.count())
            .where(period.within(rv.occurred_at))
            .group_by(*seg, rv.rating)
        )
    rq = _requests(period).c
    first = (
        select(rq.customer_id, rq.journey, rq.version, func.min(rq.sent_at).label("first_at"))
        .group_by(rq.customer_id, rq.journey, rq.version)
        .subquery("first_request")
    )
    f = first.c
    queries.append(
        select(f.journey, f.version, *seg, rv.rating, func.count())
        .select_from(first.join(reviews, rv.customer_id == f.customer_id))
        .where(period.within(rv.occurred_at), rv.occurred_at >= f.first_at)
        .group_by(f.journey, f.version, *seg, rv.rating)
    )
    counts: dict[SliceKey, dict[str, int]] = {}
    for query in queries:
        for raw in conn.execute(query):
            key, i = slice_of(raw, period)
            counts.setdefault(key, {})[raw[i]] = raw[i + 1]
    rows = []
    for key, by_rating in counts.items():
        stars = {r: by_rating.get(r, 0) for r in RATINGS}
        rated = sum(stars.values())
        mean = sum(int(r) * n for r, n in stars.items()) / rated if rated else None
        other = by_rating.get("other", 0)
        rows.append(
            RatingRow(
                **slice_fields(key),
                reviews=rated + other,
                ratings=stars,
                other=other,
                mean_rating=mean,
            )
        )
    return sorted(rows, key=row_order)


def review_requests(conn: Connection, period: Period) -> list[ReviewRequestRow]:
    requests, reviews = _requests(period), _reviews(period)
    rq, rv = requests.c, reviews.c
    answered = func.max(case((rv.occurred_at >= rq.sent_at, 1), else_=0))
    seg: list[Any] = [customer_t.c[period.by].label("segment")] if period.by else []
    per_request = (
        select(rq.journey, rq.version, *seg, rq.id, answered.label("answered"))
        .select_from(
            requests.join(customer_t, customer_t.c.id == rq.customer_id).outerjoin(
                reviews, rv.customer_id == rq.customer_id
            )
        )
        .where(period.within(rq.sent_at))
        .group_by(rq.journey, rq.version, *seg, rq.id)
        .subquery("per_request")
    )
    p = per_request.c
    pseg: list[Any] = [p.segment] if period.by else []
    query = select(p.journey, p.version, *pseg, func.count(), func.sum(p.answered)).group_by(
        p.journey, p.version, *pseg
    )
    rows = []
    for raw in conn.execute(query):
        key, i = slice_of(raw, period)
        n, yes = raw[i], int(raw[i + 1] or 0)
        share = pct(yes, n)
        rows.append(
            ReviewRequestRow(**slice_fields(key), requests=n, answered=yes, answered_pct=share)
        )
    return sorted(rows, key=row_order)
