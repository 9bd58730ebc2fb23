"""The outbox remembers who holds a claim and when a send began.

`claimed_by` names one claim (worker and a random part): an outcome is written only
by the claim that still holds the action. `send_started_at` is committed just before
a request leaves for the provider; an expired lease with it set means the send may
have happened, so the action becomes `unknown` instead of being sent again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on both databases, no table rebuild.
    op.add_column("action_run", sa.Column("claimed_by", sa.String(64), nullable=True))
    op.add_column(
        "action_run", sa.Column("send_started_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # SQLite >= 3.35 drops columns in place; batch mode would rebuild the table.
    op.drop_column("action_run", "send_started_at")
    op.drop_column("action_run", "claimed_by")
