"""What comes back after a message left: provider reports, and who an address belongs to.

SendGrid's event webhook and Twilio's status callbacks report on messages; each report
is appended to `message_event`, and the furthest delivery state is kept on the action
(`delivery_status`). Reports are matched through the idempotency key the channels put
into every message (`custom_args`, the status callback URL), else the provider's id.

A report also settles an `unknown` send: a timeout after the request left made the
outcome unknown, and a provider that reports on the message evidently accepted it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select
from sqlmodel import Session

from ...errors import StoreError, did_you_mean
from ..people.consent import set_consent
from ..sql import chunks
from ..tables import MESSAGE_EVENTS, action_run_t, customer_t, message_event_t

# Reports about delivery, by how far along the way they are; the others (open, click,
# spamreport, unsubscribe) are about what the recipient did and leave `delivery_status`
# alone. Providers do not report in order (Twilio says so of its status callbacks, and
# they carry no time, so `at` is when one arrived): a report never replaces one further
# along, and among outcomes (rank 2, e.g. a late bounce after delivered) the newest wins.
DELIVERY_RANK: dict[str, int] = {
    "queued": 0,
    "deferred": 1,
    "sent": 1,
    "delivered": 2,
    "bounce": 2,
    "dropped": 2,
    "undelivered": 2,
    "failed": 2,
}
DELIVERY_EVENTS = frozenset(DELIVERY_RANK)


@dataclass(frozen=True)
class MessageReport:
    """One provider report about one message."""

    provider: str
    event: str
    at: datetime
    idempotency_key: str | None = None
    provider_message_id: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.event not in MESSAGE_EVENTS:
            raise StoreError(
                f"unknown message event '{self.event}'{did_you_mean(self.event, MESSAGE_EVENTS)}"
            )
        if self.at.tzinfo is None:
            raise StoreError("a message report's 'at' must be time zone-aware")


class ActionRef(NamedTuple):
    """The action a report or a link is about, with its customer."""

    id: int
    idempotency_key: str
    customer_id: int
    customer_external_id: str
    journey: str
    stage: str
    action_key: str
    kind: str
    template: str | None
    params: dict[str, Any]
    status: str
    provider_message_id: str | None


_REF_COLUMNS = (
    action_run_t.c.id,
    action_run_t.c.idempotency_key,
    action_run_t.c.customer_id,
    customer_t.c.external_id,
    action_run_t.c.journey,
    action_run_t.c.stage,
    action_run_t.c.action_key,
    action_run_t.c.kind,
    action_run_t.c.template,
    action_run_t.c.params,
    action_run_t.c.status,
    action_run_t.c.provider_message_id,
)


def find_actions(
    conn: Connection, *, keys: Iterable[str] = (), provider_ids: Iterable[str] = ()
) -> tuple[dict[str, ActionRef], dict[str, ActionRef]]:
    """The actions with these idempotency keys, and those with these provider ids."""
    by_key: dict[str, ActionRef] = {}
    by_provider: dict[str, ActionRef] = {}
    joined = action_run_t.join(customer_t, customer_t.c.id == action_run_t.c.customer_id)
    for column, wanted, found in (
        (action_run_t.c.idempotency_key, keys, by_key),
        (action_run_t.c.provider_message_id, provider_ids, by_provider),
    ):
        for part in chunks(sorted({w for w in wanted if w})):
            query = select(*_REF_COLUMNS).select_from(joined).where(column.in_(part))
            for row in conn.execute(query):
                ref = ActionRef(*row)
                found[ref.idempotency_key if found is by_key else str(ref.provider_message_id)] = (
                    ref
                )
    return by_key, by_provider


def record_message_events(
    session: Session, reports: Sequence[MessageReport], now: datetime
) -> list[ActionRef | None]:
    """Append the reports and update each message's delivery state; returns their actions.

    The caller stores each report once (the inbox's UNIQUE source + id decides), so this
    appends without checking for duplicates.
    """
    conn = session.connection()
    by_key, by_provider = find_actions(
        conn,
        keys=(r.idempotency_key for r in reports if r.idempotency_key),
        provider_ids=(r.provider_message_id for r in reports if r.provider_message_id),
    )
    matched: list[ActionRef | None] = []
    rows: list[dict[str, Any]] = []
    delivered: list[dict[str, Any]] = []
    settled: list[dict[str, Any]] = []
    for report in reports:
        ref = by_key.get(report.idempotency_key or "") or by_provider.get(
            report.provider_message_id or ""
        )
        matched.append(ref)
        rows.append(
            {
                "action_run_id": ref.id if ref else None,
                "provider": report.provider,
                "provider_message_id": report.provider_message_id,
                "event": report.event,
                "at": report.at,
                "detail": dict(report.detail),
                "received_at": now,
            }
        )
        if ref is not None and report.event in DELIVERY_EVENTS:
            rank = DELIVERY_RANK[report.event]
            delivered.append(
                {
                    "_id": ref.id,
                    "_rank": rank,
                    "_event": report.event,
                    "_at": report.at,
                    "_now": now,
                }
            )
        if ref is not None and ref.status == "unknown":
            settled.append({"_id": ref.id, "_pmid": report.provider_message_id, "_now": now})
    # Each kind of update in one statement for the whole batch, in the reports' order:
    # the WHERE of each row sees what the rows before it wrote.
    if delivered:
        conn.execute(_DELIVERED, delivered)
    if settled:
        conn.execute(_SETTLED, settled)
    if rows:
        conn.execute(message_event_t.insert(), rows)
    return matched


_t = action_run_t
_current = case(DELIVERY_RANK, value=_t.c.delivery_status, else_=-1)
# Built once, run for a whole batch of reports (executemany).
_DELIVERED = (
    _t.update()
    .where(
        _t.c.id == bindparam("_id"),
        or_(
            _t.c.delivery_status.is_(None),
            _current < bindparam("_rank"),
            and_(_current == bindparam("_rank"), _t.c.delivery_at <= bindparam("_at")),
        ),
    )
    .values(delivery_status=bindparam("_event"), delivery_at=bindparam("_at"))
    .values(updated_at=bindparam("_now"))
)
# A report about an `unknown` send: the provider evidently accepted it.
_SETTLED = (
    _t.update()
    .where(_t.c.id == bindparam("_id"), _t.c.status == "unknown")
    .values(
        status="sent",
        provider_message_id=func.coalesce(_t.c.provider_message_id, bindparam("_pmid")),
        last_error=None,
        updated_at=bindparam("_now"),
    )
)


class CustomerRef(NamedTuple):
    id: int
    external_id: str
    locale: str | None


def customers_by_phone(conn: Connection, phone: str) -> list[CustomerRef]:
    """Customers with this E.164 number (a family may share one)."""
    query = select(customer_t.c.id, customer_t.c.external_id, customer_t.c.locale).where(
        customer_t.c.phone == phone
    )
    return [CustomerRef(*row) for row in conn.execute(query.order_by(customer_t.c.id))]


def customers_by_email(conn: Connection, email: str) -> list[CustomerRef]:
    """Customers with this address, compared without regard to case."""
    query = select(customer_t.c.id, customer_t.c.external_id, customer_t.c.locale).where(
        func.lower(customer_t.c.email) == email.strip().lower()
    )
    return [CustomerRef(*row) for row in conn.execute(query.order_by(customer_t.c.id))]


def set_address_consent(
    session: Session,
    channel: str,
    address: str,
    status: str,
    source: str,
    at: datetime,
    detail_ip: str | None = None,
) -> list[CustomerRef]:
    """Set consent on `channel` for every customer with this address (an address-level
    report: a bounce, a STOP); returns the customers it applied to.

    A report never lifts a suppression to `unsubscribed`: after a spam complaint or a
    hard bounce the address gets nothing, transactional mail included.
    """
    conn = session.connection()
    if channel == "email":
        customers = customers_by_email(conn, address)
    elif channel == "sms":
        customers = customers_by_phone(conn, address)
    else:
        raise StoreError(f"no address consent for channel '{channel}'; valid are: email, sms")
    for customer in customers:
        set_consent(
            session, customer.id, channel, status, source, at, ip=detail_ip, keep_suppressed=True
        )
    return customers


class MessageStats(NamedTuple):
    journey: str
    action_key: str
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    complaints: int
    unsubscribed: int


def message_stats(session: Session, journey: str | None = None) -> list[MessageStats]:
    """Per journey and action: messages sent, and how many were delivered, opened, … (each
    message counted once per kind of report, however often it was opened)."""
    conn = session.connection()
    e = message_event_t
    a = action_run_t

    def distinct(*events: str) -> Any:
        return func.count(func.distinct(e.c.action_run_id)).filter(e.c.event.in_(events))

    sent = (
        select(a.c.journey, a.c.action_key, func.count().label("n"))
        .where(a.c.status.in_(("sent", "unknown")))
        .group_by(a.c.journey, a.c.action_key)
    )
    reported = (
        select(
            a.c.journey,
            a.c.action_key,
            distinct("delivered"),
            distinct("open"),
            distinct("click"),
            distinct("bounce", "dropped", "undelivered", "failed"),
            distinct("spamreport"),
            distinct("unsubscribe", "group_unsubscribe"),
        )
        .select_from(e.join(a, and_(a.c.id == e.c.action_run_id)))
        .group_by(a.c.journey, a.c.action_key)
    )
    if journey is not None:
        sent = sent.where(a.c.journey == journey)
        reported = reported.where(a.c.journey == journey)
    counts = {(j, k): n for j, k, n in conn.execute(sent)}
    other = {(row[0], row[1]): tuple(row[2:]) for row in conn.execute(reported)}
    keys = sorted(set(counts) | set(other))
    return [
        MessageStats(j, k, counts.get((j, k), 0), *other.get((j, k), (0,) * 6)) for j, k in keys
    ]
