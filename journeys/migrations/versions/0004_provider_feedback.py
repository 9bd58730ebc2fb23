"""What providers report back: message events, delivery status, survey answers per link.

`message_event` is append-only (SendGrid's event webhook, Twilio's status callbacks);
`action_run.delivery_status` keeps the newest report per message, so statistics are
queries and a message's state is one read. A survey answer remembers the message whose
link it came from, once per link.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EVENTS = (
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


def _bigint() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.add_column("action_run", sa.Column("delivery_status", sa.String(16), nullable=True))
    op.add_column("action_run", sa.Column("delivery_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "survey_response", sa.Column("action_idempotency_key", sa.String(64), nullable=True)
    )
    op.create_index(
        "uq_survey_response_action_idempotency_key",
        "survey_response",
        ["action_idempotency_key"],
        unique=True,
    )
    op.create_table(
        "message_event",
        sa.Column(
            "action_run_id",
            _bigint(),
            sa.ForeignKey(
                "action_run.id",
                ondelete="CASCADE",
                name=op.f("fk_message_event_action_run_id_action_run"),
            ),
            nullable=True,
        ),
        sa.Column("provider", sa.String(16), nullable=False),
        sa.Column("provider_message_id", sa.String(255), nullable=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "detail", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), nullable=False
        ),
        sa.Column("id", _bigint(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_event")),
        sa.CheckConstraint(
            f"event IN ({', '.join(repr(e) for e in _EVENTS)})",
            name=op.f("ck_message_event_event"),
        ),
    )
    op.create_index("ix_message_event_action_run_id", "message_event", ["action_run_id"])
    op.create_index("ix_message_event_event_at", "message_event", ["event", "at"])


def downgrade() -> None:
    op.drop_index("ix_message_event_event_at", table_name="message_event")
    op.drop_index("ix_message_event_action_run_id", table_name="message_event")
    op.drop_table("message_event")
    op.drop_index("uq_survey_response_action_idempotency_key", table_name="survey_response")
    op.drop_column("survey_response", "action_idempotency_key")
    op.drop_column("action_run", "delivery_at")
    op.drop_column("action_run", "delivery_status")
