"""Promo codes in the store: issued with their action, redeemed by an event, reported.

`issue_codes` and `redeem_codes` run inside the batch's transaction (the writer calls
them), so an action and its code are stored together or not at all, and a redemption
is applied exactly once with the event that carries it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import Connection, and_, bindparam, case, func, or_, select
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from ... import promo
from ...decisions import ScheduledAction
from ...errors import StoreError
from ..sql import chunks, insert
from ..tables import action_run_t, promo_code_t

__all__ = [
    "CampaignReport",
    "PromoCodeRow",
    "codes_for_actions",
    "issue_codes",
    "promo_report",
    "redeem_codes",
]

# With a million codes stored, a batch of a thousand draws a taken code about once in
# 2^35 batches; the bound only matters when the code space is nearly full (a shrunk
# alphabet), and then failing loudly is right.
MAX_DRAWS = 64

_DEADLOCK = "40P01"


class PromoCodeRow(NamedTuple):
    """What a message template needs of its code."""

    code: str
    discount: str
    expires_at: datetime
    campaign: str | None


class CampaignReport(NamedTuple):
    campaign: str | None
    issued: int
    redeemed: int
    expired_unredeemed: int
    redemption_rate: float


# --- issuing -------------------------------------------------------------------------------


def issue_codes(
    conn: Connection, actions: Iterable[tuple[int, ScheduledAction]], now: datetime
) -> int:
    """One code per action (customer id, action whose params carry `promo_code`).

    Codes are inserted in bulk with ON CONFLICT DO NOTHING; the rows that did not
    land (their random code was taken) are drawn again until all have landed. An
    action that already has a code keeps it. Returns the number of codes issued.
    """
    pending: dict[str, tuple[str | None, dict[str, Any]]] = {}
    for customer_id, action in actions:
        spec = action.params["promo_code"]
        # The engine decided a prefix per language already; an older row may still hold one.
        prefix = promo.choose_prefix(spec.get("prefix"), None)
        pending[action.idempotency_key] = (
            prefix,
            {
                "code": promo.generate_code(prefix),
                "customer_id": customer_id,
                "campaign": spec.get("campaign") or action.journey,
                "discount": spec["discount"],
                # Valid from when the message goes out, not from when it was scheduled.
                "expires_at": promo.expires_at(spec, action.due_at),
                "action_idempotency_key": action.idempotency_key,
                "created_at": now,
            },
        )
    issued = 0
    for _ in range(MAX_DRAWS):
        if not pending:
            return issued
        landed = _insert(conn, [row for _, row in pending.values()])
        issued += len(landed)
        for key in landed:
            del pending[key]
        if pending:
            for key in _already_issued(conn, pending):
                del pending[key]
            for prefix, row in pending.values():
                row["code"] = promo.generate_code(prefix)
    raise StoreError(
        f"could not draw a free promo code for {len(pending)} actions in {MAX_DRAWS} tries; "
        "the code space is exhausted"
    )


def _insert(conn: Connection, rows: list[dict[str, Any]]) -> set[str]:
    """Insert what does not collide; returns the action keys of the rows that landed."""
    statement = (
        insert(conn, promo_code_t)
        .on_conflict_do_nothing()
        .returning(promo_code_t.c.action_idempotency_key)
    )
    if conn.dialect.name != "postgresql":
        # SQLite writers hold the database lock: nothing to wait for.
        return {key for (key,) in conn.execute(statement, rows)}
    # In code order: two transactions that drew a common code in their first round wait
    # on each other in one order, not crosswise.
    rows.sort(key=lambda row: str(row["code"]))
    try:
        # A redraw round can still cross an earlier round of another transaction;
        # the deadlock victim rolls back only this round and draws again.
        with conn.begin_nested():
            return {key for (key,) in conn.execute(statement, rows)}
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) != _DEADLOCK:
            raise
        return set()


def _already_issued(conn: Connection, keys: Iterable[str]) -> set[str]:
    found: set[str] = set()
    column = promo_code_t.c.action_idempotency_key
    for part in chunks(sorted(keys)):
        found.update(key for (key,) in conn.execute(select(column).where(column.in_(part))))
    return found


# --- redeeming -----------------------------------------------------------------------------

_redeem = (
    promo_code_t.update()
    .where(
        promo_code_t.c.code == bindparam("_code"),
        promo_code_t.c.customer_id == bindparam("_customer"),
        promo_code_t.c.redeemed_at.is_(None),
        promo_code_t.c.expires_at > bindparam("_when"),
    )
    .values(redeemed_at=bindparam("_at"))
)


def redeem_codes(conn: Connection, redemptions: Sequence[tuple[int, str, datetime]]) -> int:
    """Mark codes redeemed: (customer id, code as typed, when), in time order.

    A code is redeemed only by its own customer, before it expires, and once; any
    other attempt changes nothing. Returns the number of codes redeemed.
    """
    params = []
    for customer_id, text, at in redemptions:
        code = promo.normalize_code(text)
        if len(code) <= promo.MAX_CODE_LENGTH:
            params.append({"_code": code, "_customer": customer_id, "_when": at, "_at": at})
    if not params:
        return 0
    # Through the UNIQUE index on code, one row per statement; the earliest attempt wins.
    result = conn.execute(_redeem, params)
    return max(result.rowcount, 0)


# --- reading -------------------------------------------------------------------------------


def codes_for_actions(conn: Connection, idempotency_keys: Iterable[str]) -> dict[str, PromoCodeRow]:
    """The code each of these actions issued (actions without one are left out)."""
    p = promo_code_t.c
    found: dict[str, PromoCodeRow] = {}
    for part in chunks(sorted(set(idempotency_keys))):
        query = select(p.action_idempotency_key, p.code, p.discount, p.expires_at, p.campaign)
        for key, *fields in conn.execute(query.where(p.action_idempotency_key.in_(part))):
            found[key] = PromoCodeRow(*fields)
    return found


def promo_report(
    session: Session, campaign: str | None = None, *, now: datetime | None = None
) -> list[CampaignReport]:
    """Per campaign, as of `now` (default: the current time): codes issued, redeemed,
    expired unredeemed, and the redemption rate (redeemed / issued).

    A code counts as issued once its action has fallen due and was not skipped: a
    message dropped before it was sent never showed its code. A redeemed code always
    counts.
    """
    now = now or datetime.now(UTC)
    p, a = promo_code_t.c, action_run_t.c
    redeemed = p.redeemed_at <= now
    expired = and_(or_(p.redeemed_at.is_(None), p.redeemed_at > now), p.expires_at <= now)
    query = (
        select(
            p.campaign,
            func.count(),
            func.sum(case((redeemed, 1), else_=0)),
            func.sum(case((expired, 1), else_=0)),
        )
        .select_from(
            promo_code_t.outerjoin(action_run_t, a.idempotency_key == p.action_idempotency_key)
        )
        .where(or_(redeemed, a.id.is_(None), and_(a.due_at <= now, a.status != "skipped")))
        .group_by(p.campaign)
    )
    if campaign is not None:
        query = query.where(p.campaign == campaign)
    rows = [
        CampaignReport(name, issued, int(used or 0), int(lapsed or 0), int(used or 0) / issued)
        for name, issued, used, lapsed in session.connection().execute(query)
    ]
    # NULL sorts differently in SQLite and PostgreSQL: order here.
    return sorted(rows, key=lambda r: (r.campaign is None, r.campaign or ""))
