"""An index for the frequency caps: a customer's sent messages.

Every dispatch batch reads the recent sends of its customers
(`journeys.store.people.consent.recent_sends`); without this index that read goes
through (status, due_at) and touches every message ever sent.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_action_run_customer_id_status", "action_run", ["customer_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_action_run_customer_id_status", table_name="action_run")
