"""Promo codes per campaign: issued, redeemed, the redemption rate, the redeemed value.

- issued in the period: a code issued with a message counts from when the message
  went out (a message skipped or not yet sent never showed it); one issued with any
  other action from when the action fell due (unless the customer had left the stage
  by then); a code stored without an action from when it was stored. A redeemed code
  counts as issued in any case, at the latest when it was redeemed.
- redeemed: of the codes issued in the period, those redeemed before `until`;
  `redemption_pct` = redeemed / issued. `expired`: the others that expired by then.
- `redeemed_in_period`: codes redeemed in the period, whenever issued.
- redeemed value: the redeeming event (the customer's event at the instant the code
  was redeemed that carries `promo_code` in its data) may carry an amount
  (`ReportOptions.value_field`, default `total`) and a currency (`currency`); the
  amounts of the period's redemptions are summed per currency, to the cent.

The journey and version are those of the action that issued the code (None for a
code stored without one).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select

from ...kpi_math import pct
from ..people.consent import COUNTED_STATUSES, sent_at_column
from ..tables import action_run_t, customer_t, enrollment_t, inbound_event_t, promo_code_t
from .period import Period, SliceKey, slice_of
from .rows import SliceRow, row_order, slice_fields
from .sqlfuncs import json_cents, json_text

# What the writer records on a delayed action the customer left before it fell due.
VOIDED = "left the stage before it was due"
NO_CURRENCY = "none"


class PromoRow(SliceRow):
    campaign: str | None
    issued: int
    redeemed: int
    expired: int
    redemption_pct: float | None
    redeemed_in_period: int
    redeemed_value: dict[str, float]  # currency -> amount, of the period's redemptions
    valued: int  # redemptions whose event carried an amount


def _joined(period: Period) -> Any:
    p, a, e = promo_code_t.c, action_run_t.c, enrollment_t.c
    joined = promo_code_t.outerjoin(
        action_run_t, a.idempotency_key == p.action_idempotency_key
    ).outerjoin(enrollment_t, e.id == a.enrollment_id)
    if period.by is not None:
        joined = joined.join(customer_t, customer_t.c.id == p.customer_id)
    return joined


def promos(conn: Connection, period: Period) -> list[PromoRow]:
    p, a, e = promo_code_t.c, action_run_t.c, enrollment_t.c
    message = a.kind.in_(("email", "sms"))
    shown_at = case(
        (a.id.is_(None), p.created_at),
        (message, case((a.status.in_(COUNTED_STATUSES), sent_at_column))),
        (or_(a.status != "skipped", a.last_error.is_(None), a.last_error != VOIDED), a.due_at),
    )
    # At the latest when it was redeemed: a code redeemed before its message went out
    # (given by hand, say) was issued by then.
    issued_at = case(
        (p.redeemed_at.is_(None), shown_at),
        (or_(shown_at.is_(None), p.redeemed_at < shown_at), p.redeemed_at),
        else_=shown_at,
    )
    issued = period.within(issued_at)
    redeemed = p.redeemed_at < period.until
    keys = [a.journey, e.version, *period.segment(), p.campaign]
    query = (
        select(
            *keys,
            func.count().filter(issued),
            func.count().filter(issued, redeemed),
            func.count().filter(
                issued, or_(p.redeemed_at.is_(None), ~redeemed), p.expires_at <= period.until
            ),
            func.count().filter(period.within(p.redeemed_at)),
        )
        .select_from(_joined(period))
        .where(period.journeys(a.journey, e.version), issued_at < period.until)
        .group_by(*keys)
    )
    counts: dict[tuple[SliceKey, str | None], tuple[int, ...]] = {}
    for row in conn.execute(query):
        key, i = slice_of(row, period)
        counts[(key, row[i])] = tuple(row[i + 1 :])
    values = _values(conn, period)
    rows = []
    for (key, campaign), (n_issued, n_redeemed, n_expired, n_in_period) in counts.items():
        amounts, valued = values.get((key, campaign), ({}, 0))
        rows.append(
            PromoRow(
                **slice_fields(key),
                campaign=campaign,
                issued=n_issued,
                redeemed=n_redeemed,
                expired=n_expired,
                redemption_pct=pct(n_redeemed, n_issued),
                redeemed_in_period=n_in_period,
                redeemed_value=amounts,
                valued=valued,
            )
        )
    return sorted(rows, key=lambda r: (*row_order(r), r.campaign is None, r.campaign or ""))


def _values(
    conn: Connection, period: Period
) -> dict[tuple[SliceKey, str | None], tuple[dict[str, float], int]]:
    """Amounts of the period's redemptions per slice, campaign and currency."""
    p, a, e, i = promo_code_t.c, action_run_t.c, enrollment_t.c, inbound_event_t.c
    buyer = customer_t.alias("buyer")
    c = buyer.c
    events = (
        select(p.id.label("code_id"), func.min(i.id).label("event_id"))
        .select_from(
            promo_code_t.join(buyer, c.id == p.customer_id).join(
                inbound_event_t,
                and_(i.customer_id == c.external_id, i.occurred_at == p.redeemed_at),
            )
        )
        .where(
            period.within(p.redeemed_at),
            json_text(inbound_event_t.c.payload, "promo_code").is_not(None),
        )
        .group_by(p.id)
        .subquery("redemption")
    )
    r = events.c
    options = period.options
    cents = json_cents(inbound_event_t.c.payload, options.value_field)
    currency = json_text(inbound_event_t.c.payload, options.currency_field)
    keys = [a.journey, e.version, *period.segment(), p.campaign, currency]
    query = (
        select(*keys, func.sum(cents), func.count(cents))
        .select_from(
            _joined(period)
            .join(events, r.code_id == p.id)
            .join(inbound_event_t, i.id == r.event_id)
        )
        .where(cents.is_not(None))
        .group_by(*keys)
    )
    found: dict[tuple[SliceKey, str | None], tuple[dict[str, float], int]] = {}
    for row in conn.execute(query):
        key, k = slice_of(row, period)
        amounts, valued = found.get((key, row[k]), ({}, 0))
        amounts[row[k + 1] or NO_CURRENCY] = int(row[k + 2]) / 100
        found[(key, row[k])] = (amounts, valued + row[k + 3])
    return found
