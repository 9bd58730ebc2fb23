"""Segment timers: when a customer outside a journey enters it by time passing.

One row per customer and journey whose segment condition time alone will make true
(`customer.last_order_at < now - 90d`); the timer sweep reads the due ones through
(journey, due_at), so its cost follows the due customers, not all of them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _bigint() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "segment_timer",
        sa.Column("id", _bigint(), nullable=False),
        sa.Column(
            "customer_id",
            _bigint(),
            sa.ForeignKey(
                "customer.id",
                ondelete="CASCADE",
                name=op.f("fk_segment_timer_customer_id_customer"),
            ),
            nullable=False,
        ),
        sa.Column("journey", sa.String(64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_timer")),
        sa.UniqueConstraint(
            "customer_id", "journey", name=op.f("uq_segment_timer_customer_id_journey")
        ),
    )
    op.create_index("ix_segment_timer_journey_due_at", "segment_timer", ["journey", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_segment_timer_journey_due_at", "segment_timer")
    op.drop_table("segment_timer")
