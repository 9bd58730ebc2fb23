"""The store's tables (SQLModel), and the public models an API may hand out.

Following SQLModel's pattern: `<Name>Base` holds the fields a client may see or send,
`<Name>(…, table=True)` adds the database-only columns, `<Name>Public` is what an API
returns. The hot path writes through SQLAlchemy Core on the `Table` objects exported
at the bottom (`customer_t`, …), not through ORM instances.

Consent keeps its current state in `Consent` (one row per customer × channel, what the
dispatcher checks) and its full history in the append-only `ConsentChange`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

from .sqltypes import BigId, JSONDoc, UTCDateTime, utcnow

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

ENROLLMENT_STATUSES = ("active", "completed", "exited", "goal")
ACTION_STATUSES = ("pending", "claimed", "sent", "failed", "skipped", "unknown")
# What providers report about a message after it left (SendGrid events, Twilio callbacks).
MESSAGE_EVENTS = (
    "queued",
    "sent",
    "delivered",
    "deferred",
    "open",
    "click",
    "bounce",
    "dropped",
    "spamreport",
    "unsubscribe",
    "group_unsubscribe",
    "undelivered",
    "failed",
)
CONSENT_STATUSES = ("pending", "subscribed", "unsubscribed", "suppressed")
SURVEY_KINDS = ("csat", "nps")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class StoreModel(SQLModel, registry=registry(metadata=metadata)):
    """Base of every model of the store: its own metadata, with a naming convention."""


def _id() -> Any:
    return Field(default=None, primary_key=True, sa_type=BigId)


def _at(**kw: Any) -> Any:
    return Field(sa_type=UTCDateTime, **kw)


def _ref(target: str, **kw: Any) -> Any:
    return Field(foreign_key=target, ondelete="CASCADE", sa_type=BigId, **kw)


# --- customers -----------------------------------------------------------------------------


class CustomerBase(StoreModel):
    external_id: str = Field(max_length=255, description="The customer's id in the CRM/shop")
    email: str | None = Field(default=None, max_length=320)
    phone: str | None = Field(default=None, max_length=16, description="E.164, e.g. +4915112345678")
    first_name: str | None = Field(default=None, max_length=100)
    last_name: str | None = Field(default=None, max_length=100)
    locale: str | None = Field(default=None, max_length=16)
    timezone: str | None = Field(default=None, max_length=64)
    country: str | None = Field(default=None, max_length=2, description="ISO 3166-1 alpha-2")
    attributes: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)


class Customer(CustomerBase, table=True):
    __tablename__ = "customer"
    __table_args__ = (UniqueConstraint("external_id"),)
    id: int | None = _id()
    created_at: datetime = _at(default_factory=utcnow)
    updated_at: datetime = _at(default_factory=utcnow)


class CustomerPublic(CustomerBase):
    id: int
    created_at: datetime
    updated_at: datetime


# --- journeys and enrollments --------------------------------------------------------------


class JourneyVersionBase(StoreModel):
    journey: str = Field(max_length=64)
    version: int
    checksum: str = Field(max_length=64, description="sha256 of the canonical JSON definition")


class JourneyVersion(JourneyVersionBase, table=True):
    __tablename__ = "journey_version"
    __table_args__ = (UniqueConstraint("journey", "version"),)
    id: int | None = _id()
    definition: dict[str, Any] = Field(sa_type=JSONDoc)
    registered_at: datetime = _at(default_factory=utcnow)


class JourneyVersionPublic(JourneyVersionBase):
    id: int
    registered_at: datetime


class EnrollmentBase(StoreModel):
    customer_id: int = _ref("customer.id")
    journey: str = Field(max_length=64)
    version: int
    number: int = Field(description="1 for the first enrollment, +1 for each re-entry")
    stage: str = Field(max_length=64)
    status: str = Field(max_length=16)
    entered_at: datetime = _at()
    stage_entered_at: datetime = _at()
    stage_entry: int = Field(description="Counts stage entries within the enrollment")
    last_event_at: datetime = _at()
    ended_at: datetime | None = _at(default=None)
    timer_due_at: datetime | None = _at(default=None)


class Enrollment(EnrollmentBase, table=True):
    __tablename__ = "enrollment"
    __table_args__ = (
        UniqueConstraint("customer_id", "journey", "number"),
        ForeignKeyConstraint(
            ["journey", "version"], ["journey_version.journey", "journey_version.version"]
        ),
        CheckConstraint(_one_of("status", ENROLLMENT_STATUSES), name="status"),
        # At most one active enrollment per customer and journey.
        Index(
            "ix_enrollment_one_active",
            "customer_id",
            "journey",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        # The timer sweep reads only due rows of the journeys it runs (journey first, so
        # no planner prefers the journey/stage index); ended enrollments have no timer.
        Index("ix_enrollment_journey_timer_due_at", "journey", "timer_due_at"),
        Index("ix_enrollment_journey_stage", "journey", "stage", "status"),
    )
    id: int | None = _id()


class EnrollmentPublic(EnrollmentBase):
    id: int


class StageTransitionBase(StoreModel):
    enrollment_id: int = _ref("enrollment.id")
    journey: str = Field(max_length=64)
    customer_id: int = _ref("customer.id")
    from_stage: str | None = Field(default=None, max_length=64)
    to_stage: str = Field(max_length=64)
    stage_entry: int
    cause: str = Field(max_length=300, description="event:<id>, timer:<trigger>, move_to:<key>")
    at: datetime = _at()


class StageTransition(StageTransitionBase, table=True):
    """Append-only history; funnels and time in stage are queries over it."""

    __tablename__ = "stage_transition"
    __table_args__ = (
        Index("ix_stage_transition_enrollment_id", "enrollment_id"),
        Index("ix_stage_transition_journey_to_stage", "journey", "to_stage"),
    )
    id: int | None = _id()


class StageTransitionPublic(StageTransitionBase):
    id: int


# --- the inbox and the outbox --------------------------------------------------------------


class InboundEvent(StoreModel, table=True):
    """The inbox: every accepted event, once per (source, external_id)."""

    __tablename__ = "inbound_event"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index(
            "ix_inbound_event_unprocessed",
            "occurred_at",
            sqlite_where=text("processed_at IS NULL"),
            postgresql_where=text("processed_at IS NULL"),
        ),
    )
    id: int | None = _id()
    source: str = Field(max_length=64)
    external_id: str = Field(max_length=255)
    type: str = Field(max_length=128)
    customer_id: str = Field(max_length=255, description="The customer's external id")
    occurred_at: datetime = _at()
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    profile: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    received_at: datetime = _at(default_factory=utcnow)
    processed_at: datetime | None = _at(default=None)


class ActionRunBase(StoreModel):
    idempotency_key: str = Field(max_length=64)
    enrollment_id: int = _ref("enrollment.id")
    journey: str = Field(max_length=64)
    customer_id: int = _ref("customer.id")
    stage: str = Field(max_length=64)
    stage_entry: int
    action_key: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    template: str | None = Field(default=None, max_length=200)
    variant: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    due_at: datetime = _at()
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    provider_message_id: str | None = Field(default=None, max_length=255)
    lease_expires_at: datetime | None = _at(default=None)
    cancel_on_leave: bool = False
    claimed_by: str | None = Field(
        default=None, max_length=64, description="The claim holding the action (see outbox)"
    )
    send_started_at: datetime | None = _at(
        default=None, description="Set just before the request left for the provider"
    )
    delivery_status: str | None = Field(
        default=None,
        max_length=16,
        description="What the provider last reported: delivered, bounced, failed, …",
    )
    delivery_at: datetime | None = _at(default=None, description="When it reported that")


class ActionRun(ActionRunBase, table=True):
    """The outbox: one row per action per stage entry; the unique key makes it run once."""

    __tablename__ = "action_run"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        CheckConstraint(_one_of("status", ACTION_STATUSES), name="status"),
        Index("ix_action_run_status_due_at", "status", "due_at"),
        Index("ix_action_run_enrollment_id_stage_entry", "enrollment_id", "stage_entry"),
        # Frequency caps read a customer's recent sends per channel at every dispatch.
        Index("ix_action_run_customer_id_status", "customer_id", "status"),
    )
    id: int | None = _id()
    created_at: datetime = _at(default_factory=utcnow)
    updated_at: datetime = _at(default_factory=utcnow)


class ActionRunPublic(ActionRunBase):
    id: int
    created_at: datetime
    updated_at: datetime


# --- promo codes, consent, surveys ---------------------------------------------------------


class PromoCodeBase(StoreModel):
    code: str = Field(max_length=32)
    customer_id: int = _ref("customer.id")
    campaign: str | None = Field(default=None, max_length=64)
    discount: str = Field(max_length=32, description="'10%', '5 EUR' or 'free_shipping'")
    expires_at: datetime = _at()
    redeemed_at: datetime | None = _at(default=None)


class PromoCode(PromoCodeBase, table=True):
    __tablename__ = "promo_code"
    __table_args__ = (UniqueConstraint("code"), UniqueConstraint("action_idempotency_key"))
    id: int | None = _id()
    action_idempotency_key: str | None = Field(
        default=None, max_length=64, description="The action that issued it: one code per action"
    )
    created_at: datetime = _at(default_factory=utcnow)


class PromoCodePublic(PromoCodeBase):
    id: int


class ConsentBase(StoreModel):
    customer_id: int = _ref("customer.id")
    channel: str = Field(max_length=16)
    status: str = Field(max_length=16)
    source: str = Field(max_length=64, description="double_opt_in, sms_keyword, import, …")
    at: datetime = _at()


class Consent(ConsentBase, table=True):
    """Current consent per customer and channel."""

    __tablename__ = "consent"
    __table_args__ = (
        UniqueConstraint("customer_id", "channel"),
        CheckConstraint(_one_of("status", CONSENT_STATUSES), name="status"),
    )
    id: int | None = _id()


class ConsentPublic(ConsentBase):
    id: int


class ConsentChange(ConsentBase, table=True):
    """Append-only history of consent: every change, with where it came from."""

    __tablename__ = "consent_change"
    __table_args__ = (
        CheckConstraint(_one_of("status", CONSENT_STATUSES), name="status"),
        Index("ix_consent_change_customer_id_channel_at", "customer_id", "channel", "at"),
    )
    id: int | None = _id()
    previous_status: str | None = Field(default=None, max_length=16)
    detail: str | None = Field(default=None, sa_type=Text)


class SurveyResponseBase(StoreModel):
    customer_id: int = _ref("customer.id")
    kind: str = Field(max_length=8, description="csat (1-5) or nps (0-10)")
    score: int
    journey: str | None = Field(default=None, max_length=64)
    stage: str | None = Field(default=None, max_length=64)
    comment: str | None = Field(default=None, sa_type=Text)
    at: datetime = _at()


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
    id: int | None = _id()
    action_idempotency_key: str | None = Field(
        default=None, max_length=64, description="The message whose link was answered"
    )


class SurveyResponsePublic(SurveyResponseBase):
    id: int


# --- what providers report back ------------------------------------------------------------


class MessageEventBase(StoreModel):
    action_run_id: int | None = _ref("action_run.id", default=None)
    provider: str = Field(max_length=16, description="sendgrid or twilio")
    provider_message_id: str | None = Field(default=None, max_length=255)
    event: str = Field(max_length=32)
    at: datetime = _at(description="When the provider says it happened")
    detail: dict[str, Any] = Field(
        default_factory=dict, sa_type=JSONDoc, description="reason, url, error code; no PII"
    )


class MessageEvent(MessageEventBase, table=True):
    """Append-only: delivery, opens, clicks, bounces; message statistics are queries."""

    __tablename__ = "message_event"
    __table_args__ = (
        CheckConstraint(_one_of("event", MESSAGE_EVENTS), name="event"),
        Index("ix_message_event_action_run_id", "action_run_id"),
        Index("ix_message_event_event_at", "event", "at"),
    )
    id: int | None = _id()
    received_at: datetime = _at(default_factory=utcnow)


class MessageEventPublic(MessageEventBase):
    id: int


# Core handles for the hot path (typed, unlike the models' `__table__`).
_t = metadata.tables
customer_t: Table = _t["customer"]
journey_version_t: Table = _t["journey_version"]
enrollment_t: Table = _t["enrollment"]
stage_transition_t: Table = _t["stage_transition"]
inbound_event_t: Table = _t["inbound_event"]
action_run_t: Table = _t["action_run"]
promo_code_t: Table = _t["promo_code"]
consent_t: Table = _t["consent"]
consent_change_t: Table = _t["consent_change"]
survey_response_t: Table = _t["survey_response"]
message_event_t: Table = _t["message_event"]
