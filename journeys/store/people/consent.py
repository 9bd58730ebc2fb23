"""What the send policy (`journeys.policy`) needs from the store, read for a whole batch.

One SELECT per batch for each input (per `CHUNK` customers, the parameter limit),
never one per customer. And the one writer of consent: current state plus history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, func, or_, select
from sqlmodel import Session

from ...errors import StoreError, did_you_mean
from ...policy import CONSENT_STATUSES
from ..sql import chunks, insert
from ..tables import action_run_t, consent_change_t, consent_t

# Channels a customer consents to; a webhook reaches a system and needs no consent.
CONSENT_CHANNELS = ("email", "sms")

# `unknown` (a timeout after the request left) most likely reached the customer: it
# counts, so that an unknown outcome can never carry a customer over the cap.
COUNTED_STATUSES = ("sent", "unknown")

# When a message went out: `send_started_at`, committed just before the request left
# for the provider (it survives the outcome, also an `unknown` one found long after);
# for rows without it, the status change to sent (`updated_at`), which is later: the
# cap then errs towards sending less, never more.
sent_at_column = func.coalesce(action_run_t.c.send_started_at, action_run_t.c.updated_at)

# Transactional messages are written with params.marketing = false and count against
# no cap; email/SMS without the key (and webhooks) count, as `marketing` defaults to true.
_MARKETING = func.coalesce(action_run_t.c.params["marketing"].as_boolean(), True)


def consents_for(
    conn: Connection, customer_ids: Iterable[int], channels: Iterable[str]
) -> dict[tuple[int, str], str]:
    """Current consent status per (customer id, channel); absent when there is no record."""
    ids = sorted(set(customer_ids))
    wanted = sorted(set(channels))
    found: dict[tuple[int, str], str] = {}
    if not ids or not wanted:
        return found
    for part in chunks(ids):
        query = select(consent_t.c.customer_id, consent_t.c.channel, consent_t.c.status).where(
            consent_t.c.customer_id.in_(part), consent_t.c.channel.in_(wanted)
        )
        for customer_id, channel, status in conn.execute(query):
            found[(customer_id, channel)] = status
    return found


def recent_sends(
    conn: Connection,
    customer_ids: Iterable[int],
    channel_windows: Mapping[str, timedelta],
    now: datetime,
) -> dict[tuple[int, str], list[datetime]]:
    """Send times (oldest first) per (customer id, channel) within each channel's window
    before `now`, from every journey: caps are per customer, not per journey.

    Counts outbox rows that were sent (or whose outcome is unknown) and were not
    transactional; a send is in the window while it is less than the window old, as
    `journeys.policy` counts it.
    """
    ids = sorted(set(customer_ids))
    found: dict[tuple[int, str], list[datetime]] = {}
    if not ids or not channel_windows:
        return found
    in_window = or_(
        *(
            and_(action_run_t.c.kind == channel, sent_at_column > now - window)
            for channel, window in sorted(channel_windows.items())
        )
    )
    for part in chunks(ids):
        query = (
            select(action_run_t.c.customer_id, action_run_t.c.kind, sent_at_column)
            .where(
                action_run_t.c.customer_id.in_(part),
                action_run_t.c.status.in_(COUNTED_STATUSES),
                in_window,
                _MARKETING,
            )
            .order_by(sent_at_column)
        )
        for customer_id, channel, sent_at in conn.execute(query):
            found.setdefault((customer_id, channel), []).append(sent_at)
    return found


def set_consent(
    session: Session,
    customer_id: int,
    channel: str,
    status: str,
    source: str,
    at: datetime,
    ip: str | None = None,
    *,
    keep_suppressed: bool = False,
) -> str:
    """Record a consent change; returns the customer's current status on the channel.

    History (`ConsentChange`) is appended every time, with the status it replaced and
    the IP address a consent was given from (proof of opt-in). The current state
    (`Consent`) follows the newest `at`: a change that arrives late, older than the one
    already applied, goes into history but does not overwrite the newer state.

    `keep_suppressed`: an `unsubscribed` does not replace `suppressed` (a provider's
    unsubscribe after a spam complaint must not let transactional mail through again).
    """
    return record_consent(
        session.connection(),
        customer_id,
        channel,
        status,
        source,
        at,
        ip,
        keep_suppressed=keep_suppressed,
    )


def record_consent(
    conn: Connection,
    customer_id: int,
    channel: str,
    status: str,
    source: str,
    at: datetime,
    ip: str | None = None,
    *,
    keep_suppressed: bool = False,
    proof: Mapping[str, str | None] | None = None,
    not_applied: str | None = None,
) -> str:
    """`set_consent` on a Connection: the engine's write path works on one.

    `proof`: what the history keeps beside source, time and IP (`purpose`, `system`,
    `wording`), as the consent's record for a regulator. `not_applied`: the caller's
    reason to keep the current state; the change goes into history with that reason.
    """
    if channel not in CONSENT_CHANNELS:
        raise StoreError(
            f"no consent for channel '{channel}'{did_you_mean(channel, CONSENT_CHANNELS)}"
        )
    if status not in CONSENT_STATUSES:
        raise StoreError(
            f"unknown consent status '{status}'{did_you_mean(status, CONSENT_STATUSES)}"
        )
    if at.tzinfo is None:
        raise StoreError(f"naive datetime {at.isoformat()} for 'at': pass time zone-aware UTC")
    values = {"customer_id": customer_id, "channel": channel}
    history = {**values, **_proof(proof)}
    current = _current(conn, customer_id, channel)
    if current is None:
        created = conn.execute(
            insert(conn, consent_t)
            .on_conflict_do_nothing(index_elements=["customer_id", "channel"])
            .returning(consent_t.c.id),
            {**values, "status": status, "source": source, "at": at},
        ).first()
        if created is not None:
            _append_history(conn, history, status, source, at, None, _detail(ip))
            return status
        current = _current(conn, customer_id, channel)  # a concurrent writer came first
        assert current is not None
    previous, applied_at = current
    late = at < applied_at
    weaker = keep_suppressed and previous == "suppressed" and status == "unsubscribed"
    detail = _detail(ip, late, weaker)
    if not_applied and not (late or weaker):
        detail = "; ".join(p for p in (detail, f"not applied: {not_applied}") if p)
    _append_history(conn, history, status, source, at, previous, detail)
    if late or weaker or not_applied:
        return previous
    conn.execute(
        consent_t.update()
        .where(consent_t.c.customer_id == customer_id, consent_t.c.channel == channel)
        .values(status=status, source=source, at=at)
    )
    return status


def _current(conn: Connection, customer_id: int, channel: str) -> tuple[str, datetime] | None:
    # FOR UPDATE: two writers of one customer's consent apply one after the other, so
    # each history row names the status it really replaced (SQLite: BEGIN IMMEDIATE).
    row = conn.execute(
        select(consent_t.c.status, consent_t.c.at)
        .where(consent_t.c.customer_id == customer_id, consent_t.c.channel == channel)
        .with_for_update()
    ).first()
    return None if row is None else (row[0], row[1])


def _append_history(
    conn: Connection,
    values: Mapping[str, object],
    status: str,
    source: str,
    at: datetime,
    previous: str | None,
    detail: str | None,
) -> None:
    conn.execute(
        consent_change_t.insert(),
        {
            **values,
            "status": status,
            "source": source,
            "at": at,
            "previous_status": previous,
            "detail": detail,
        },
    )


_PROOF = ("purpose", "system", "wording")


def _proof(proof: Mapping[str, str | None] | None) -> dict[str, str | None]:
    given = proof or {}
    unknown = sorted(set(given) - set(_PROOF))
    if unknown:
        raise StoreError(f"unknown consent proof '{unknown[0]}'{did_you_mean(unknown[0], _PROOF)}")
    return {name: given.get(name) for name in _PROOF}


def _detail(ip: str | None, late: bool = False, weaker: bool = False) -> str | None:
    parts = [f"ip={ip}"] if ip else []
    if late:
        parts.append("not applied: older than the current consent")
    elif weaker:
        parts.append("not applied: the address stays suppressed")
    return "; ".join(parts) or None
