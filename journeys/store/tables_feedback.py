"""Tables of what customers agreed to and answered, and what providers reported:
promo codes, consent (current state and history), survey answers, message events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Text, UniqueConstraint
from sqlmodel import Field

from .sqltypes import JSONDoc, utcnow
from .table_base import (
    CONSENT_STATUSES,
    MESSAGE_EVENTS,
    StoreModel,
    at_field,
    id_field,
    one_of,
    ref_field,
)

ERASED_KINDS = ("external_id", "email", "phone")

# --- promo codes, consent, surveys ---------------------------------------------------------


class PromoCodeBase(StoreModel):
    code: str = Field(max_length=32)
    customer_id: int = ref_field("customer.id")
    campaign: str | None = Field(default=None, max_length=64)
    discount: str = Field(max_length=32, description="'10%', '5 EUR' or 'free_shipping'")
    expires_at: datetime = at_field()
    redeemed_at: datetime | None = at_field(default=None)


class PromoCode(PromoCodeBase, table=True):
    __tablename__ = "promo_code"
    __table_args__ = (UniqueConstraint("code"), UniqueConstraint("action_idempotency_key"))
    id: int | None = id_field()
    action_idempotency_key: str | None = Field(
        default=None, max_length=64, description="The action that issued it: one code per action"
    )
    created_at: datetime = at_field(default_factory=utcnow)


class PromoCodePublic(PromoCodeBase):
    id: int


class ConsentBase(StoreModel):
    customer_id: int = ref_field("customer.id")
    channel: str = Field(max_length=16)
    status: str = Field(max_length=16)
    source: str = Field(max_length=64, description="double_opt_in, sms_keyword, import, …")
    at: datetime = at_field()


class Consent(ConsentBase, table=True):
    """Current consent per customer and channel."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("customer_id", "channel"),
        CheckConstraint(one_of("status", CONSENT_STATUSES), name="status"),
    )
    id: int | None = id_field()


class ConsentPublic(ConsentBase):
    id: int


class ConsentChange(ConsentBase, table=True):
    """Append-only history of consent: every change, with where it came from."""

    __tablename__ = "consent_change"
    __table_args__ = (
        CheckConstraint(one_of("status", CONSENT_STATUSES), name="status"),
        Index("ix_consent_change_customer_id_channel_at", "customer_id", "channel", "at"),
    )
    id: int | None = id_field()
    previous_status: str | None = Field(default=None, max_length=16)
    detail: str | None = Field(default=None, sa_type=Text)
    # Proof a regulator asks for beyond source, time and IP: what the consent was for,
    # the system that recorded it (a shop, a CRM) and the wording shown, or its version.
    purpose: str | None = Field(default=None, max_length=32)
    system: str | None = Field(default=None, max_length=128)
    wording: str | None = Field(default=None, sa_type=Text)


class SurveyResponseBase(StoreModel):
    customer_id: int = ref_field("customer.id")
    kind: str = Field(max_length=8, description="csat (1-5) or nps (0-10)")
    score: int
    journey: str | None = Field(default=None, max_length=64)
    stage: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, sa_type=Text)
    at: datetime = at_field()


class SurveyResponse(SurveyResponseBase, table=True):
    __tablename__ = "survey_response"
    __table_args__ = (
        CheckConstraint(
            "(kind = 'csat' AND score BETWEEN 1 AND 5)"
            " OR (kind = 'nps' AND score BETWEEN 0 AND 10)",
            name="score_range",
        ),
        Index("ix_survey_response_kind_at", "kind", "at"),
        # One answer per survey link: answering again replaces the score. An index, not
        # a constraint, so SQLite adds it without rebuilding the table.
        Index("uq_survey_response_action_idempotency_key", "action_idempotency_key", unique=True),
    )
    id: int | None = id_field()
    action_idempotency_key: str | None = Field(
        default=None, max_length=64, description="The message whose link was answered"
    )


class SurveyResponsePublic(SurveyResponseBase):
    id: int


# --- what providers report back ------------------------------------------------------------


class MessageEventBase(StoreModel):
    action_run_id: int | None = ref_field("action_run.id", default=None)
    provider: str = Field(max_length=16, description="sendgrid or twilio")
    provider_message_id: str | None = Field(default=None, max_length=255)
    event: str = Field(max_length=32)
    at: datetime = at_field(description="When the provider says it happened")
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONDoc, description="reason, url, error code; no PII"
    )


class MessageEvent(MessageEventBase, table=True):
    """Append-only: delivery, opens, clicks, bounces; message statistics are queries."""

    __tablename__ = "message_event"
    __table_args__ = (
        CheckConstraint(one_of("event", MESSAGE_EVENTS), name="event"),
        Index("ix_message_event_action_run_id", "action_run_id"),
        Index("ix_message_event_event_at", "event", "at"),
    )
    id: int | None = id_field()
    received_at: datetime = at_field(default_factory=utcnow)


class MessageEventPublic(MessageEventBase):
    id: int


# --- erased people -------------------------------------------------------------------------


class ErasedIdentity(StoreModel, table=True):
    """A keyed hash (HMAC-SHA256) of an erased customer's id, address or number.

    No personal data: only the digest stays, so that a later event or import naming
    the same person does not create and message them again.
    """

    __tablename__ = "erased_identity"
    __table_args__ = (
        UniqueConstraint("kind", "digest"),
        CheckConstraint(one_of("kind", ERASED_KINDS), name="kind"),
    )
    id: int | None = id_field()
    kind: str = Field(max_length=16, description="external_id, email or phone")
    digest: str = Field(max_length=64, description="hex HMAC-SHA256 of the normalised value")
    erased_at: datetime = at_field()
