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
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlmodel import Field

from .sqltypes import JSONDoc, utcnow
from .table_base import (
    ACTION_STATUSES,
    CONSENT_STATUSES,
    ENROLLMENT_STATUSES,
    MESSAGE_EVENTS,
    NAMING_CONVENTION,
    SURVEY_KINDS,
    StoreModel,
    at_field,
    id_field,
    metadata,
    one_of,
    ref_field,
)
from .tables_feedback import (
    Consent,
    ConsentBase,
    ConsentChange,
    ConsentPublic,
    MessageEvent,
    MessageEventBase,
    MessageEventPublic,
    PromoCode,
    PromoCodeBase,
    PromoCodePublic,
    SurveyResponse,
    SurveyResponseBase,
    SurveyResponsePublic,
)

__all__ = [
    "ACTION_STATUSES",
    "CONSENT_STATUSES",
    "ENROLLMENT_STATUSES",
    "MESSAGE_EVENTS",
    "NAMING_CONVENTION",
    "SURVEY_KINDS",
    "Consent",
    "ConsentBase",
    "ConsentChange",
    "ConsentPublic",
    "MessageEvent",
    "MessageEventBase",
    "MessageEventPublic",
    "PromoCode",
    "PromoCodeBase",
    "PromoCodePublic",
    "StoreModel",
    "SurveyResponse",
    "SurveyResponseBase",
    "SurveyResponsePublic",
    "metadata",
]


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
    id: int | None = id_field()
    created_at: datetime = at_field(default_factory=utcnow)
    updated_at: datetime = at_field(default_factory=utcnow)


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
    id: int | None = id_field()
    definition: dict[str, Any] = Field(sa_type=JSONDoc)
    registered_at: datetime = at_field(default_factory=utcnow)


class JourneyVersionPublic(JourneyVersionBase):
    id: int
    registered_at: datetime


class EnrollmentBase(StoreModel):
    customer_id: int = ref_field("customer.id")
    journey: str = Field(max_length=64)
    version: int
    number: int = Field(description="1 for the first enrollment, +1 for each re-entry")
    stage: str = Field(max_length=64)
    status: str = Field(max_length=16)
    entered_at: datetime = at_field()
    stage_entered_at: datetime = at_field()
    stage_entry: int = Field(description="Counts stage entries within the enrollment")
    last_event_at: datetime = at_field()
    ended_at: datetime | None = at_field(default=None)
    timer_due_at: datetime | None = at_field(default=None)


class Enrollment(EnrollmentBase, table=True):
    __tablename__ = "enrollment"
    __table_args__ = (
        UniqueConstraint("customer_id", "journey", "number"),
        ForeignKeyConstraint(
            ["journey", "version"], ["journey_version.journey", "journey_version.version"]
        ),
        CheckConstraint(one_of("status", ENROLLMENT_STATUSES), name="status"),
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
    id: int | None = id_field()


class EnrollmentPublic(EnrollmentBase):
    id: int


class StageTransitionBase(StoreModel):
    enrollment_id: int = ref_field("enrollment.id")
    journey: str = Field(max_length=64)
    customer_id: int = ref_field("customer.id")
    from_stage: str | None = Field(default=None, max_length=64)
    to_stage: str = Field(max_length=64)
    stage_entry: int
    cause: str = Field(max_length=300, description="event:<id>, timer:<trigger>, move_to:<key>")
    at: datetime = at_field()


class StageTransition(StageTransitionBase, table=True):
    """Append-only history; funnels and time in stage are queries over it."""

    __tablename__ = "stage_transition"
    __table_args__ = (
        Index("ix_stage_transition_enrollment_id", "enrollment_id"),
        Index("ix_stage_transition_journey_to_stage", "journey", "to_stage"),
    )
    id: int | None = id_field()


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
    id: int | None = id_field()
    source: str = Field(max_length=64)
    external_id: str = Field(max_length=255)
    type: str = Field(max_length=128)
    customer_id: str = Field(max_length=255, description="The customer's external id")
    occurred_at: datetime = at_field()
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    profile: dict[str, Any] | None = Field(default=None, sa_type=JSONDoc)
    received_at: datetime = at_field(default_factory=utcnow)
    processed_at: datetime | None = at_field(default=None)


class ActionRunBase(StoreModel):
    idempotency_key: str = Field(max_length=64)
    enrollment_id: int = ref_field("enrollment.id")
    journey: str = Field(max_length=64)
    customer_id: int = ref_field("customer.id")
    stage: str = Field(max_length=64)
    stage_entry: int
    action_key: str = Field(max_length=64)
    kind: str = Field(max_length=32)
    template: str | None = Field(default=None, max_length=200)
    variant: str | None = Field(default=None, max_length=64)
    params: dict[str, Any] = Field(default_factory=dict, sa_type=JSONDoc)
    due_at: datetime = at_field()
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_type=Text)
    provider_message_id: str | None = Field(default=None, max_length=255)
    lease_expires_at: datetime | None = at_field(default=None)
    cancel_on_leave: bool = False
    claimed_by: str | None = Field(
        default=None, max_length=64, description="The claim holding the action (see outbox)"
    )
    send_started_at: datetime | None = at_field(
        default=None, description="Set just before the request left for the provider"
    )
    delivery_status: str | None = Field(
        default=None,
        max_length=16,
        description="What the provider last reported: delivered, bounced, failed, …",
    )
    delivery_at: datetime | None = at_field(default=None, description="When it reported that")
    crashes: int = Field(
        default=0,
        sa_column_kwargs={"server_default": "0"},
        description="Dispatchers that died while preparing the action, before its send",
    )
    preparing_since: datetime | None = at_field(
        default=None, description="Set when a dispatcher began to decide and render it"
    )


class ActionRun(ActionRunBase, table=True):
    """The outbox: one row per action per stage entry; the unique key makes it run once."""

    __tablename__ = "action_run"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        CheckConstraint(one_of("status", ACTION_STATUSES), name="status"),
        # The claim's index: due rows in order, and whether they were caught in crashes.
        Index("ix_action_run_status_due_at_crashes", "status", "due_at", "crashes"),
        Index("ix_action_run_enrollment_id_stage_entry", "enrollment_id", "stage_entry"),
        # Frequency caps read a customer's recent sends per channel at every dispatch.
        Index("ix_action_run_customer_id_status", "customer_id", "status"),
    )
    id: int | None = id_field()
    created_at: datetime = at_field(default_factory=utcnow)
    updated_at: datetime = at_field(default_factory=utcnow)


class ActionRunPublic(ActionRunBase):
    id: int
    created_at: datetime
    updated_at: datetime


class ActionRelease(StoreModel, table=True):
    """An operator's decision to send an `unknown` or `quarantined` action again: who,
    when, why, and what the action was. Append-only: the record a resend is judged by."""

    __tablename__ = "action_release"
    __table_args__ = (Index("ix_action_release_action_run_id", "action_run_id"),)
    id: int | None = id_field()
    action_run_id: int = ref_field("action_run.id")
    at: datetime = at_field()
    operator: str = Field(max_length=128)
    reason: str = Field(sa_type=Text)
    from_status: str = Field(max_length=16)
    last_error: str | None = Field(default=None, sa_type=Text)


class SegmentTimer(StoreModel, table=True):
    """When a customer outside a journey will enter it by a segment whose condition
    time alone makes true (`last_order_at < now - 90d`). One row per customer and
    journey, replaced whenever the customer changes; the sweep reads only due rows."""

    __tablename__ = "segment_timer"
    __table_args__ = (
        UniqueConstraint("customer_id", "journey"),
        Index("ix_segment_timer_journey_due_at", "journey", "due_at"),
    )
    id: int | None = id_field()
    customer_id: int = ref_field("customer.id")
    journey: str = Field(max_length=64)
    due_at: datetime = at_field()


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
action_release_t: Table = _t["action_release"]
segment_timer_t: Table = _t["segment_timer"]
