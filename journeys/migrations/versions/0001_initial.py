"""The initial schema: customers, journeys, enrollments, history, inbox, outbox,
promo codes, consent and surveys.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Every constraint is named here (op.f: as written), matching the naming convention
# of journeys.store.tables, so later migrations can address them on every database.


def _bigint() -> sa.types.TypeEngine:
    # SQLite's rowid alias needs INTEGER; PostgreSQL gets 64-bit ids.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id(table: str) -> tuple[sa.Column, sa.PrimaryKeyConstraint]:
    return sa.Column("id", _bigint(), nullable=False), sa.PrimaryKeyConstraint(
        "id", name=op.f(f"pk_{table}")
    )


def _ref(table: str, name: str, target: str) -> sa.Column:
    target_table = target.split(".")[0]
    return sa.Column(
        name,
        _bigint(),
        sa.ForeignKey(target, ondelete="CASCADE", name=op.f(f"fk_{table}_{name}_{target_table}")),
        nullable=False,
    )


def _unique(table: str, *columns: str) -> sa.UniqueConstraint:
    return sa.UniqueConstraint(*columns, name=op.f(f"uq_{table}_{'_'.join(columns)}"))


def _check(table: str, name: str, condition: str) -> sa.CheckConstraint:
    return sa.CheckConstraint(condition, name=op.f(f"ck_{table}_{name}"))


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _str(name: str, length: int, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "customer",
        _str("external_id", 255),
        _str("email", 320, True),
        _str("phone", 16, True),
        _str("first_name", 100, True),
        _str("last_name", 100, True),
        _str("locale", 16, True),
        _str("timezone", 64, True),
        _str("country", 2, True),
        sa.Column("attributes", _json(), nullable=False),
        *_id("customer"),
        _at("created_at"),
        _at("updated_at"),
        _unique("customer", "external_id"),
    )
    op.create_table(
        "journey_version",
        _str("journey", 64),
        sa.Column("version", sa.Integer(), nullable=False),
        _str("checksum", 64),
        *_id("journey_version"),
        sa.Column("definition", _json(), nullable=False),
        _at("registered_at"),
        _unique("journey_version", "journey", "version"),
    )
    op.create_table(
        "enrollment",
        _ref("enrollment", "customer_id", "customer.id"),
        _str("journey", 64),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        _str("stage", 64),
        _str("status", 16),
        _at("entered_at"),
        _at("stage_entered_at"),
        sa.Column("stage_entry", sa.Integer(), nullable=False),
        _at("last_event_at"),
        _at("ended_at", True),
        _at("timer_due_at", True),
        *_id("enrollment"),
        _unique("enrollment", "customer_id", "journey", "number"),
        sa.ForeignKeyConstraint(
            ["journey", "version"],
            ["journey_version.journey", "journey_version.version"],
            name=op.f("fk_enrollment_journey_journey_version"),
        ),
        _check("enrollment", "status", "status IN ('active', 'completed', 'exited', 'goal')"),
    )
    op.create_index(
        "ix_enrollment_one_active",
        "enrollment",
        ["customer_id", "journey"],
        unique=True,
        sqlite_where=sa.text("status = 'active'"),
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_index("ix_enrollment_journey_timer_due_at", "enrollment", ["journey", "timer_due_at"])
    op.create_index("ix_enrollment_journey_stage", "enrollment", ["journey", "stage", "status"])

    op.create_table(
        "stage_transition",
        _ref("stage_transition", "enrollment_id", "enrollment.id"),
        _str("journey", 64),
        _ref("stage_transition", "customer_id", "customer.id"),
        _str("from_stage", 64, True),
        _str("to_stage", 64),
        sa.Column("stage_entry", sa.Integer(), nullable=False),
        _str("cause", 300),
        _at("at"),
        *_id("stage_transition"),
    )
    op.create_index("ix_stage_transition_enrollment_id", "stage_transition", ["enrollment_id"])
    op.create_index(
        "ix_stage_transition_journey_to_stage", "stage_transition", ["journey", "to_stage"]
    )

    op.create_table(
        "inbound_event",
        *_id("inbound_event"),
        _str("source", 64),
        _str("external_id", 255),
        _str("type", 128),
        _str("customer_id", 255),
        _at("occurred_at"),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("profile", _json(), nullable=True),
        _at("received_at"),
        _at("processed_at", True),
        _unique("inbound_event", "source", "external_id"),
    )
    op.create_index(
        "ix_inbound_event_unprocessed",
        "inbound_event",
        ["occurred_at"],
        sqlite_where=sa.text("processed_at IS NULL"),
        postgresql_where=sa.text("processed_at IS NULL"),
    )

    op.create_table(
        "action_run",
        _str("idempotency_key", 64),
        _ref("action_run", "enrollment_id", "enrollment.id"),
        _str("journey", 64),
        _ref("action_run", "customer_id", "customer.id"),
        _str("stage", 64),
        sa.Column("stage_entry", sa.Integer(), nullable=False),
        _str("action_key", 64),
        _str("kind", 32),
        _str("template", 200, True),
        _str("variant", 64, True),
        sa.Column("params", _json(), nullable=False),
        _at("due_at"),
        _str("status", 16),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        _str("provider_message_id", 255, True),
        _at("lease_expires_at", True),
        sa.Column("cancel_on_leave", sa.Boolean(), nullable=False),
        *_id("action_run"),
        _at("created_at"),
        _at("updated_at"),
        _unique("action_run", "idempotency_key"),
        _check(
            "action_run",
            "status",
            "status IN ('pending', 'claimed', 'sent', 'failed', 'skipped', 'unknown')",
        ),
    )
    op.create_index("ix_action_run_status_due_at", "action_run", ["status", "due_at"])
    op.create_index(
        "ix_action_run_enrollment_id_stage_entry", "action_run", ["enrollment_id", "stage_entry"]
    )

    op.create_table(
        "promo_code",
        _str("code", 32),
        _ref("promo_code", "customer_id", "customer.id"),
        _str("campaign", 64, True),
        _str("discount", 32),
        _at("expires_at"),
        _at("redeemed_at", True),
        *_id("promo_code"),
        _str("action_idempotency_key", 64, True),
        _at("created_at"),
        _unique("promo_code", "code"),
        _unique("promo_code", "action_idempotency_key"),
    )

    consent_statuses = "status IN ('pending', 'subscribed', 'unsubscribed', 'suppressed')"
    op.create_table(
        "consent",
        _ref("consent", "customer_id", "customer.id"),
        _str("channel", 16),
        _str("status", 16),
        _str("source", 64),
        _at("at"),
        *_id("consent"),
        _unique("consent", "customer_id", "channel"),
        _check("consent", "status", consent_statuses),
    )
    op.create_table(
        "consent_change",
        _ref("consent_change", "customer_id", "customer.id"),
        _str("channel", 16),
        _str("status", 16),
        _str("source", 64),
        _at("at"),
        *_id("consent_change"),
        _str("previous_status", 16, True),
        sa.Column("detail", sa.Text(), nullable=True),
        _check("consent_change", "status", consent_statuses),
    )
    op.create_index(
        "ix_consent_change_customer_id_channel_at",
        "consent_change",
        ["customer_id", "channel", "at"],
    )

    op.create_table(
        "survey_response",
        _ref("survey_response", "customer_id", "customer.id"),
        _str("kind", 8),
        sa.Column("score", sa.Integer(), nullable=False),
        _str("journey", 64, True),
        _str("stage", 64, True),
        sa.Column("comment", sa.Text(), nullable=True),
        _at("at"),
        *_id("survey_response"),
        _check(
            "survey_response",
            "score_range",
            "(kind = 'csat' AND score BETWEEN 1 AND 5)"
            " OR (kind = 'nps' AND score BETWEEN 0 AND 10)",
        ),
    )
    op.create_index("ix_survey_response_kind_at", "survey_response", ["kind", "at"])


def downgrade() -> None:
    for table in (
        "survey_response",
        "consent_change",
        "consent",
        "promo_code",
        "action_run",
        "inbound_event",
        "stage_transition",
        "enrollment",
        "journey_version",
        "customer",
    ):
        op.drop_table(table)
