"""CSAT and NPS from the survey answers the store keeps (`survey_response`).

An answer belongs to the period by when it was given (`at`; an answer changed
through the same link counts once, with its latest score and time), to a journey by
the message whose link was answered, and to a version by that message's enrollment.

- CSAT: answers 4–5 on 1–5 among all CSAT answers, in percent, with the Wilson
  interval (`kpi_math.csat`).
- NPS: % promoters (9–10) − % detractors (0–6) of the NPS answers on 0–10, in points,
  with the trinomial Wald interval (`kpi_math.nps`).

Rows with journey None cover every answer in the period (reported when the report
covers every journey).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, null, select

from ...kpi_math import csat, nps
from ..tables import action_run_t, customer_t, enrollment_t, survey_response_t
from .period import Period, SliceKey, slice_of
from .rows import SliceRow, row_order, slice_fields


class CsatRow(SliceRow):
    answers: int
    satisfied: int  # answers of 4 or 5
    csat_pct: float | None
    low_pct: float | None  # 95 % Wilson interval
    high_pct: float | None


class NpsRow(SliceRow):
    answers: int
    promoters: int  # 9–10
    passives: int  # 7–8
    detractors: int  # 0–6
    nps: float | None  # points, −100 to 100
    low: float | None  # 95 % interval
    high: float | None


def survey_kpis(conn: Connection, period: Period) -> tuple[list[CsatRow], list[NpsRow]]:
    counts: dict[tuple[SliceKey, str], tuple[int, int, int]] = {}
    for whole in (False, True) if period.journey is None else (False,):
        for key, kind, n, high, low in _counts(conn, period, whole_store=whole):
            counts[(key, kind)] = (n, high, low)
    csat_rows, nps_rows = [], []
    for (key, kind), (n, high, low) in counts.items():
        if kind == "csat":
            est = csat(high, n)
            csat_rows.append(
                CsatRow(
                    **slice_fields(key),
                    answers=n,
                    satisfied=high,
                    csat_pct=est.value if est else None,
                    low_pct=est.low if est else None,
                    high_pct=est.high if est else None,
                )
            )
        elif kind == "nps":
            est = nps(high, low, n)
            nps_rows.append(
                NpsRow(
                    **slice_fields(key),
                    answers=n,
                    promoters=high,
                    passives=n - high - low,
                    detractors=low,
                    nps=est.value if est else None,
                    low=est.low if est else None,
                    high=est.high if est else None,
                )
            )
    return sorted(csat_rows, key=row_order), sorted(nps_rows, key=row_order)


def _counts(
    conn: Connection, period: Period, *, whole_store: bool
) -> list[tuple[SliceKey, str, int, int, int]]:
    """Per slice and kind: answers, favourable (CSAT 4–5, NPS 9–10), detractors (NPS 0–6)."""
    s, a, e = survey_response_t.c, action_run_t.c, enrollment_t.c
    csat_kind, nps_kind = s.kind == "csat", s.kind == "nps"
    favourable = ((csat_kind) & (s.score >= 4)) | ((nps_kind) & (s.score >= 9))
    keys: list[Any] = [s.journey, e.version]
    if whole_store:
        keys = [null().label("journey"), null().label("version")]
    joined = survey_response_t.outerjoin(
        action_run_t, a.idempotency_key == s.action_idempotency_key
    ).outerjoin(enrollment_t, e.id == a.enrollment_id)
    if period.by is not None:
        joined = joined.join(customer_t, customer_t.c.id == s.customer_id)
    query = (
        select(
            *keys,
            *period.segment(),
            s.kind,
            func.count(),
            func.count().filter(favourable),
            func.count().filter(nps_kind, s.score <= 6),
        )
        .select_from(joined)
        .where(period.within(s.at), period.journeys(s.journey, e.version))
        .group_by(*([] if whole_store else keys), *period.segment(), s.kind)
    )
    found = []
    for row in conn.execute(query):
        key, i = slice_of(row, period)
        found.append((key, row[i], row[i + 1], row[i + 2], row[i + 3]))
    return found
