"""Stage visits: every stage entry with when it was left and where to, as of `until`.

A visit is one row of `stage_transition` (a customer entering a stage). It is left at
the next transition of the same enrollment (found with LEAD over the enrollment's
stage entries), or when the enrollment ended by an exit or its goal while there. A
visit left neither way by `until` is still open: the customer is in the stage at the
end of the period. A completed enrollment's final stage stays open: that is where
the customer is (as the stage funnel has always counted them).

Only history before `until` is read, so a report about a past period gives what it
would have given then (the enrollment's current state is not consulted, except its
end, which counts only if it happened before `until`).
"""

from __future__ import annotations

from sqlalchemy import Subquery, and_, case, func, select

from ..tables import customer_t, enrollment_t, stage_transition_t
from .period import Period
from .sqlfuncs import epoch_seconds


def visits(period: Period) -> Subquery:
    """Columns: journey, version, [segment], enrollment_id, customer_id, stage,
    entered_at, left_at (NULL: still there at `until`), next_stage (NULL: none yet),
    ended (the enrollment's end while there: 'exited', 'goal' or NULL), entered_s and
    left_s (epoch seconds; left_s is `until` for an open visit)."""
    st, en = stage_transition_t, enrollment_t
    next_at = func.lead(st.c.at).over(partition_by=st.c.enrollment_id, order_by=st.c.stage_entry)
    next_stage = func.lead(st.c.to_stage).over(
        partition_by=st.c.enrollment_id, order_by=st.c.stage_entry
    )
    ended_here = and_(
        next_at.is_(None),
        en.c.status.in_(("exited", "goal")),
        en.c.ended_at < period.until,
    )
    left_at = case((next_at.is_not(None), next_at), (ended_here, en.c.ended_at))
    joined = st.join(en, en.c.id == st.c.enrollment_id)
    if period.by is not None:
        joined = joined.join(customer_t, customer_t.c.id == st.c.customer_id)
    inner = (
        select(
            st.c.journey,
            en.c.version,
            *period.segment(),
            st.c.enrollment_id,
            st.c.customer_id,
            st.c.to_stage.label("stage"),
            st.c.at.label("entered_at"),
            left_at.label("left_at"),
            next_stage.label("next_stage"),
            case((ended_here, en.c.status)).label("ended"),
        )
        .select_from(joined)
        .where(period.journeys(st.c.journey, en.c.version), st.c.at < period.until)
        .subquery("visit_rows")
    )
    v = inner.c
    left_s = func.coalesce(epoch_seconds(v.left_at), period.until_seconds)
    return select(
        inner,
        epoch_seconds(v.entered_at).label("entered_s"),
        left_s.label("left_s"),
    ).subquery("visits")
