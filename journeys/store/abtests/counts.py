"""Recipients and conversions per variant of one A/B test, in one aggregate query.

A recipient is a customer whose action in this variant was dispatched past the send
rules: sent (or its outcome unknown, or it failed on the way), or, for a holdout,
skipped as the holdout, which the dispatcher decides only after the send rules
(consent, quiet hours, caps). So both groups hold customers the message would have
reached, and an action voided before it was due is in neither. A customer counts
once per variant, from the first time the action fell due for them in the period
(`due_at`, the same moment for every variant, however late the dispatcher ran).

A recipient converted if the metric's record falls within `within` after that moment:
- goal: an enrollment of theirs in the journey ended at its goal;
- click: a click reported for this action's message to them;
- redemption: a promo code of theirs redeemed (any code: a holdout has none of this
  message, so its redemptions are the baseline);
- event:<type>: an event of that type from them in the inbox.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Interval, and_, case, distinct, func, literal, or_, select

from ...abverdict import ArmCount
from ...model_abtest import AbEventMetric
from ..outbox.claimed import HOLDOUT
from ..tables import (
    action_run_t,
    customer_t,
    enrollment_t,
    inbound_event_t,
    message_event_t,
    promo_code_t,
)

# Outcomes of an action that went past the send rules towards the customer.
REACHED = ("sent", "unknown", "failed", "quarantined")


def window_end(conn: Connection, moment: Any, within: timedelta) -> Any:
    """`moment + within` in SQL, exact to the microsecond on both databases."""
    seconds = int(within.total_seconds())
    if conn.dialect.name == "postgresql":
        return moment + literal(timedelta(seconds=seconds), Interval())
    # SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" text. datetime() rounds fractions of a
    # second, so the whole seconds are shifted and the fraction is put back as it was.
    shifted = func.datetime(func.substr(moment, 1, 19), f"+{seconds} seconds")
    return shifted.op("||")(func.substr(moment, 20))


def _conversions(metric: str | AbEventMetric, journey: str, stage: str, action: str) -> Any:
    """(customer_id, at) of every record that counts as a conversion on this metric."""
    if metric == "goal":
        e = enrollment_t.c
        return select(e.customer_id, e.ended_at.label("at")).where(
            e.journey == journey, e.status == "goal"
        )
    if metric == "click":
        a, m = action_run_t.c, message_event_t.c
        return (
            select(a.customer_id, m.at)
            .select_from(message_event_t.join(action_run_t, a.id == m.action_run_id))
            .where(m.event == "click", a.journey == journey, a.stage == stage)
            .where(a.action_key == action)
        )
    if metric == "redemption":
        p = promo_code_t.c
        return select(p.customer_id, p.redeemed_at.label("at")).where(p.redeemed_at.is_not(None))
    if isinstance(metric, AbEventMetric):
        i, c = inbound_event_t.c, customer_t.c
        return (
            select(c.id.label("customer_id"), i.occurred_at.label("at"))
            .select_from(inbound_event_t.join(customer_t, c.external_id == i.customer_id))
            .where(i.type == metric.event)
        )
    raise ValueError(f"unknown A/B metric {metric!r}")


def arm_counts(
    conn: Connection,
    journey: str,
    stage: str,
    action: str,
    metric: str | AbEventMetric,
    within: timedelta,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ArmCount]:
    """Per variant of the action (in key order): holdout or not, recipients assigned in
    [since, until), and those of them who converted within `within`."""
    a = action_run_t.c
    reached = or_(a.status.in_(REACHED), and_(a.status == "skipped", a.last_error == HOLDOUT))
    exposed = (
        select(
            a.variant,
            a.customer_id,
            func.min(a.due_at).label("t0"),
            func.max(case((a.template.is_(None), 1), else_=0)).label("holdout"),
        )
        .where(a.journey == journey, a.stage == stage, a.action_key == action)
        .where(a.variant.is_not(None), reached)
        .group_by(a.variant, a.customer_id)
    )
    if since is not None:
        exposed = exposed.where(a.due_at >= since)
    if until is not None:
        exposed = exposed.where(a.due_at < until)
    x = exposed.cte("exposed")
    conv = _conversions(metric, journey, stage, action).subquery("conversion")
    matched = and_(
        conv.c.customer_id == x.c.customer_id,
        conv.c.at >= x.c.t0,
        conv.c.at <= window_end(conn, x.c.t0, within),
    )
    query = (
        select(
            x.c.variant,
            func.max(x.c.holdout),
            func.count(distinct(x.c.customer_id)),
            func.count(distinct(case((conv.c.customer_id.is_not(None), x.c.customer_id)))),
        )
        .select_from(x.outerjoin(conv, matched))
        .group_by(x.c.variant)
        .order_by(x.c.variant)
    )
    return [
        ArmCount(str(variant), bool(holdout), int(n), int(converted))
        for variant, holdout, n, converted in conn.execute(query)
    ]
