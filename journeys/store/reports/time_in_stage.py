"""Time in stage: median and 90th percentile, for visits that ended and for those open.

Two populations per stage (see `visits`):

- `left`: visits left in the period; the time is from entering to leaving.
- `in_stage`: visits still open at `until`; the time so far, from entering to `until`.

Times are whole seconds (each instant truncated to the second, then subtracted), so
SQLite and PostgreSQL give the same integers. Percentiles interpolate linearly
between the two order statistics around (n − 1)·p (`kpi_math`): SQL ranks the times
per stage with ROW_NUMBER and returns only the values at those two ranks, so no
list of times leaves the database.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import Connection, func, literal, select, union_all

from ...kpi_math import interpolate
from .period import Period, slice_of, stage_orders
from .rows import SliceRow
from .visits import visits

Population = Literal["left", "in_stage"]
PERCENTS = (50, 90)


class TimeInStageRow(SliceRow):
    stage: str
    population: Population
    n: int
    median_s: float
    p90_s: float
    mean_s: float
    max_s: int


def time_in_stage(conn: Connection, period: Period) -> list[TimeInStageRow]:
    v = visits(period).c
    keys: list[Any] = [v.journey, v.version, *([v.segment] if period.by else [])]
    left = select(
        *keys, v.stage, literal("left").label("population"), (v.left_s - v.entered_s).label("d")
    ).where(v.left_at.is_not(None))
    if period.since is not None:
        left = left.where(v.left_at >= period.since)
    still = select(
        *keys, v.stage, literal("in_stage").label("population"), (v.left_s - v.entered_s)
    ).where(v.left_at.is_(None))
    times = union_all(left, still).subquery("times")
    t = times.c
    group = [t.journey, t.version, *([t.segment] if period.by else []), t.stage, t.population]
    ranked = select(
        *group,
        t.d,
        (func.row_number().over(partition_by=group, order_by=t.d) - 1).label("r"),
        func.count().over(partition_by=group).label("n"),
    ).subquery("ranked")
    r = ranked.c
    picks = []
    for percent in PERCENTS:
        scaled = (r.n - 1) * percent
        # The same integer floor and ceiling as kpi_math.percentile_ranks.
        picks.append(func.min(r.d).filter(r.r == scaled // 100))
        picks.append(func.min(r.d).filter(r.r == (scaled + 99) // 100))
    rgroup = [r.journey, r.version, *([r.segment] if period.by else []), r.stage, r.population]
    query = select(*rgroup, func.count(), func.sum(r.d), func.max(r.d), *picks).group_by(*rgroup)
    rows = []
    for row in conn.execute(query):
        key, i = slice_of(row, period)
        stage, population, n, total, longest = row[i : i + 5]
        med_lo, med_hi, p90_lo, p90_hi = row[i + 5 : i + 9]
        rows.append(
            TimeInStageRow(
                journey=key[0],
                version=key[1],
                segment=key[2],
                stage=stage,
                population=population,
                n=n,
                median_s=interpolate(med_lo, med_hi, n, 50),
                p90_s=interpolate(p90_lo, p90_hi, n, 90),
                mean_s=int(total) / n,
                max_s=int(longest),
            )
        )
    orders = stage_orders(conn, period)

    def place(x: TimeInStageRow) -> tuple[Any, ...]:
        known = orders.get((x.journey or "", x.version or 0), [])
        at = known.index(x.stage) if x.stage in known else len(known)
        return (
            x.journey or "",
            x.version or 0,
            x.segment is None,
            x.segment or "",
            at,
            x.stage,
            x.population,
        )

    return sorted(rows, key=place)
