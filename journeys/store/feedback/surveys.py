"""Survey answers (CSAT 1-5, NPS 0-10) given through the link in a message.

One answer per link: the link's reference is the idempotency key of the message that
carried it, and answering again replaces the score, so a customer who clicks 2 and
then 4 counts once, with 4.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import func
from sqlmodel import Session

from ...errors import StoreError, did_you_mean
from ..sql import insert
from ..tables import SURVEY_KINDS, survey_response_t
from .message_events import find_actions

# The ranges the table's check constraint enforces, for messages that name them.
SCORE_RANGES: dict[str, tuple[int, int]] = {"csat": (1, 5), "nps": (0, 10)}


class SurveyAnswer(NamedTuple):
    customer_id: int
    customer_external_id: str
    journey: str
    stage: str
    kind: str
    score: int


def check_score(kind: str, score: int) -> None:
    """Raise StoreError naming the valid range when `score` is outside the kind's scale."""
    if kind not in SURVEY_KINDS:
        raise StoreError(f"unknown survey kind '{kind}'{did_you_mean(kind, SURVEY_KINDS)}")
    low, high = SCORE_RANGES[kind]
    if not low <= score <= high:
        raise StoreError(f"a {kind} score is {low} to {high}, got {score}")


def record_survey_answer(
    session: Session,
    ref: str,
    kind: str,
    score: int,
    at: datetime,
    comment: str | None = None,
) -> SurveyAnswer | None:
    """Store the answer to the survey in message `ref` (its idempotency key).

    Returns None when no message has that key. An earlier answer to the same message is
    replaced; its comment is kept unless a new one is given.
    """
    check_score(kind, score)
    if at.tzinfo is None:
        raise StoreError(f"naive datetime {at.isoformat()} for 'at': pass time zone-aware UTC")
    conn = session.connection()
    action = find_actions(conn, keys=[ref])[0].get(ref)
    if action is None:
        return None
    t = survey_response_t
    statement = insert(conn, t).values(
        customer_id=action.customer_id,
        kind=kind,
        score=score,
        journey=action.journey,
        stage=action.stage,
        comment=comment,
        at=at,
        action_idempotency_key=ref,
    )
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=[t.c.action_idempotency_key],
            set_={
                "kind": kind,
                "score": score,
                "at": at,
                "comment": func.coalesce(statement.excluded.comment, t.c.comment),
            },
        )
    )
    return SurveyAnswer(
        action.customer_id, action.customer_external_id, action.journey, action.stage, kind, score
    )
