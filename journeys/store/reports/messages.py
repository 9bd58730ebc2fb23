"""Messages per journey, version, template, channel and locale: what became of them.

- `sent`: emails and SMS that left in the period (their send was started then; an
  `unknown` outcome counts, the provider most likely has it).
- of those, by what the providers reported before `until` (each message once per
  kind of report, however often it was opened): `delivered`, `opened`, `clicked`,
  `bounced` (bounce, dropped, undelivered, failed), `complained` (spam report),
  `unsubscribed` (unsubscribe, group unsubscribe).
- `failed`: given up on in the period (a permanent refusal, a render error, retries
  used up). `skipped`: written off in the period, by reason (the consent rules' no
  consent / unsubscribed / suppressed, a holdout, other reasons such as the customer
  having moved on). `deferred`: held back by quiet hours or a frequency cap and still
  waiting; the store keeps only an action's latest state, so a deferral that has
  since been sent is not counted.
- rates in percent: delivered and bounced over sent; opened, clicked, complained and
  unsubscribed over delivered.

The locale is the customer's (the locale a message was rendered in is not stored).
"""

from __future__ import annotations

from typing import Any, get_args

from sqlalchemy import Connection, Subquery, case, func, or_, select

from ...kpi_math import pct
from ...policy import DeferReason, SkipReason
from ..people.consent import COUNTED_STATUSES, sent_at_column
from ..tables import action_run_t, customer_t, enrollment_t, message_event_t
from .period import Period, slice_of
from .rows import SliceRow, row_order, slice_fields

SKIP_REASONS: tuple[str, ...] = (*get_args(SkipReason), "holdout")
DEFER_REASONS: tuple[str, ...] = get_args(DeferReason)
REPORTS: dict[str, tuple[str, ...]] = {
    "delivered": ("delivered",),
    "opened": ("open",),
    "clicked": ("click",),
    "bounced": ("bounce", "dropped", "undelivered", "failed"),
    "complained": ("spamreport",),
    "unsubscribed": ("unsubscribe", "group_unsubscribe"),
}


class MessageRow(SliceRow):
    template: str | None  # None: a holdout, which gets no message
    channel: str
    locale: str | None
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    complained: int
    unsubscribed: int
    failed: int
    skipped: dict[str, int]  # reason -> messages; "other" for the rest
    deferred: dict[str, int]  # send rule -> messages waiting
    delivered_pct: float | None
    bounced_pct: float | None
    opened_pct: float | None
    clicked_pct: float | None
    complained_pct: float | None
    unsubscribed_pct: float | None


def reported(period: Period) -> Subquery:
    """Per message (`action_run_id`): 1 or 0 for each kind of report in REPORTS that a
    provider made before `until`."""
    m = message_event_t.c
    return (
        select(
            m.action_run_id,
            *(
                func.max(case((m.event.in_(events), 1), else_=0)).label(name)
                for name, events in REPORTS.items()
            ),
        )
        .where(m.action_run_id.is_not(None), m.at < period.until)
        .group_by(m.action_run_id)
        .subquery("reported")
    )


def messages(conn: Connection, period: Period) -> list[MessageRow]:
    a, e, c = action_run_t.c, enrollment_t.c, customer_t.c
    reports = reported(period)
    r = reports.c
    sent = (a.status.in_(COUNTED_STATUSES), period.within(sent_at_column))
    decided = period.within(a.updated_at)
    skipped = (a.status == "skipped", decided)
    counts: list[Any] = [func.count().filter(*sent)]
    counts += [func.coalesce(func.sum(r[name]).filter(*sent), 0) for name in REPORTS]
    counts.append(func.count().filter(a.status == "failed", decided))
    counts += [func.count().filter(*skipped, a.last_error == why) for why in SKIP_REASONS]
    counts.append(
        func.count().filter(
            *skipped, or_(a.last_error.is_(None), a.last_error.not_in(SKIP_REASONS))
        )
    )
    waiting = a.status.in_(("pending", "claimed"))
    counts += [func.count().filter(waiting, decided, a.last_error == why) for why in DEFER_REASONS]
    keys = [a.journey, e.version, *period.segment(), a.template, a.kind, c.locale]
    query = (
        select(*keys, *counts)
        .select_from(
            action_run_t.join(enrollment_t, e.id == a.enrollment_id)
            .join(customer_t, c.id == a.customer_id)
            .outerjoin(reports, r.action_run_id == a.id)
        )
        .where(
            a.kind.in_(("email", "sms")),
            period.journeys(a.journey, e.version),
            or_(sent_at_column < period.until, a.updated_at < period.until),
        )
        .group_by(*keys)
    )
    rows = []
    for raw in conn.execute(query):
        key, i = slice_of(raw, period)
        template, channel, locale = raw[i : i + 3]
        n_sent, *rest = (int(x) for x in raw[i + 3 :])
        events = dict(zip(REPORTS, rest[: len(REPORTS)], strict=True))
        rest = rest[len(REPORTS) :]
        failed, rest = rest[0], rest[1:]
        skips = dict(zip((*SKIP_REASONS, "other"), rest[: len(SKIP_REASONS) + 1], strict=True))
        defers = dict(zip(DEFER_REASONS, rest[len(SKIP_REASONS) + 1 :], strict=True))
        if not (n_sent or failed or any(skips.values()) or any(defers.values())):
            continue
        delivered = events["delivered"]
        rows.append(
            MessageRow(
                **slice_fields(key),
                template=template,
                channel=channel,
                locale=locale,
                sent=n_sent,
                **events,
                failed=failed,
                skipped=skips,
                deferred=defers,
                delivered_pct=pct(delivered, n_sent),
                bounced_pct=pct(events["bounced"], n_sent),
                opened_pct=pct(events["opened"], delivered),
                clicked_pct=pct(events["clicked"], delivered),
                complained_pct=pct(events["complained"], delivered),
                unsubscribed_pct=pct(events["unsubscribed"], delivered),
            )
        )
    return sorted(rows, key=_order)


def _order(x: MessageRow) -> tuple[Any, ...]:
    return (*row_order(x), x.template or "", x.channel, x.locale is None, x.locale or "")
