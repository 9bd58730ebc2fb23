"""What the link pages read and change in the store, each call inside one transaction.

A link's reference is the idempotency key of the message that carried it; through it
the store knows the customer, the journey and the channel. Events the pages create
(`newsletter.confirmed`, `survey.answered`) go into the inbox like any other, with
source `links` and an id that makes a repeated click a duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlmodel import Session

from journeys.store import IncomingEvent, store_new_events
from journeys.store.feedback.message_events import ActionRef, find_actions
from journeys.store.feedback.surveys import SCORE_RANGES, record_survey_answer
from journeys.store.people.consent import CONSENT_CHANNELS, consents_for, set_consent
from journeys.store.tables import SURVEY_KINDS, customer_t, inbound_event_t

SOURCE = "links"


@dataclass(frozen=True)
class LinkTarget:
    """The message a link came with, its customer's locale, addresses and consent."""

    action: ActionRef
    locale: str | None
    channels: tuple[str, ...]  # the consent channels the customer has an address for
    consent: dict[str, str]  # channel -> status; absent: never asked
    addresses: dict[str, str | None]  # channel -> the customer's address on it

    @property
    def channel(self) -> str:
        """The channel the message went out on (a webhook has none: email stands in)."""
        return self.action.kind if self.action.kind in CONSENT_CHANNELS else "email"

    @property
    def address(self) -> str | None:
        """The address the message went to: what an unsubscribe applies to."""
        return self.addresses.get(self.channel)


def load_target(session: Session, ref: str) -> LinkTarget | None:
    conn = session.connection()
    action = find_actions(conn, keys=[ref])[0].get(ref)
    if action is None:
        return None
    row = conn.execute(
        select(customer_t.c.locale, customer_t.c.email, customer_t.c.phone).where(
            customer_t.c.id == action.customer_id
        )
    ).one()
    addresses = {"email": row.email, "sms": row.phone}
    channels = tuple(c for c in CONSENT_CHANNELS if addresses[c] or c == action.kind)
    consent = consents_for(conn, [action.customer_id], CONSENT_CHANNELS)
    statuses = {ch: s for (_, ch), s in consent.items()}
    return LinkTarget(action, row.locale, channels, statuses, addresses)


def unsubscribe(
    session: Session, ref: str, source: str, now: datetime, ip: str | None
) -> LinkTarget | None:
    """Unsubscribe the customer from the channel the message came on."""
    target = load_target(session, ref)
    if target is None:
        return None
    set_consent(session, target.action.customer_id, target.channel, "unsubscribed", source, now, ip)
    return load_target(session, ref)


def save_preferences(
    session: Session, ref: str, wanted: dict[str, bool], now: datetime, ip: str | None
) -> tuple[LinkTarget | None, list[str]]:
    """Subscribe or unsubscribe each channel whose box changed; returns the changed ones.

    A suppressed channel (bounces, a spam report) is not the customer's to lift here.
    """
    target = load_target(session, ref)
    if target is None:
        return None, []
    changed: list[str] = []
    for channel in target.channels:
        status = target.consent.get(channel)
        if status == "suppressed" or wanted.get(channel, False) == (status == "subscribed"):
            continue
        new = "subscribed" if wanted.get(channel) else "unsubscribed"
        set_consent(session, target.action.customer_id, channel, new, "preferences_page", now, ip)
        changed.append(channel)
    return (load_target(session, ref) if changed else target), changed


def is_confirmed(session: Session, ref: str) -> bool:
    query = select(inbound_event_t.c.id).where(
        inbound_event_t.c.source == SOURCE, inbound_event_t.c.external_id == f"confirm:{ref}"
    )
    return session.connection().execute(query).first() is not None


def confirm(
    session: Session, ref: str, now: datetime, ip: str | None
) -> tuple[LinkTarget | None, bool]:
    """Double opt-in: email consent `subscribed` with time and IP as proof, once per link.

    Returns the target and whether this was the first confirmation through the link.
    """
    target = load_target(session, ref)
    if target is None:
        return None, False
    event = IncomingEvent(
        source=SOURCE,
        external_id=f"confirm:{ref}",
        type="newsletter.confirmed",
        customer_id=target.action.customer_external_id,
        occurred_at=now,
        data={"channel": "email"},
    )
    if not store_new_events(session, [event], now):
        return target, False
    set_consent(session, target.action.customer_id, "email", "subscribed", "double_opt_in", now, ip)
    return load_target(session, ref), True


def survey_kind(action: ActionRef) -> str:
    """csat or nps: the action's `survey` parameter, else its template's name, else csat
    (a survey link in an ordinary message asks how satisfied the customer is)."""
    declared = action.params.get("survey")
    if declared in SURVEY_KINDS:
        return str(declared)
    return "nps" if "nps" in (action.template or "") else "csat"


@dataclass(frozen=True)
class SurveyResult:
    target: LinkTarget | None
    kind: str
    in_range: bool
    new_events: int = 0


def answer_survey(
    session: Session, ref: str, score: int | None, now: datetime, comment: str | None = None
) -> SurveyResult:
    """Store the answer and, once per score, a `survey.answered` event for the journeys.

    Without a score, only reads what the page needs. The event id carries the score:
    clicking the same score twice is a duplicate, while a changed answer reaches the
    journeys (a 2 corrected to 5 may still make a customer loyal).
    """
    target = load_target(session, ref)
    if target is None:
        return SurveyResult(None, "csat", False)
    kind = survey_kind(target.action)
    if score is None:
        return SurveyResult(target, kind, True)
    low, high = SCORE_RANGES[kind]
    if not low <= score <= high:
        return SurveyResult(target, kind, False)
    answer = record_survey_answer(session, ref, kind, score, now, comment)
    assert answer is not None  # the message was found above, in this transaction
    event = IncomingEvent(
        source=SOURCE,
        external_id=f"survey:{ref}:{score}",
        type="survey.answered",
        customer_id=answer.customer_external_id,
        occurred_at=now,
        data={"kind": kind, "score": score, "journey": answer.journey, "stage": answer.stage},
    )
    return SurveyResult(target, kind, True, len(store_new_events(session, [event], now)))
