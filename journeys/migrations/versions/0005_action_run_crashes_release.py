"""Crashes are counted apart from attempts; quarantine; an operator's release is recorded.

`attempts` now counts sends that started (and rule errors), never claims: a dispatcher
that dies while an action waits in its batch costs the action time, not a retry.
`preparing_since` marks the few actions a dispatcher is deciding and rendering;
`crashes` counts the dispatchers that died while it was so marked, before its send
started. An action with a crash is dispatched alone, and one that keeps crashing
dispatchers alone is `quarantined` until an operator releases it. `action_release`
records every such release and every resend of an `unknown` action an operator decided.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OLD = ("pending", "claimed", "sent", "failed", "skipped", "unknown")
_NEW = (*_OLD, "quarantined")


def _bigint() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _statuses(values: tuple[str, ...]) -> str:
    return f"status IN ({', '.join(repr(v) for v in values)})"


def _set_statuses(values: tuple[str, ...]) -> None:
    # SQLite cannot alter a CHECK constraint: batch mode rebuilds the table there and
    # alters it in place on PostgreSQL.
    with op.batch_alter_table("action_run") as batch:
        batch.drop_constraint(op.f("ck_action_run_status"), type_="check")
        batch.create_check_constraint(op.f("ck_action_run_status"), _statuses(values))


def upgrade() -> None:
    op.add_column(
        "action_run",
        sa.Column("crashes", sa.Integer(), nullable=False, server_default=sa.text("0")),
    )
    op.add_column(
        "action_run", sa.Column("preparing_since", sa.DateTime(timezone=True), nullable=True)
    )
    _set_statuses(_NEW)
    # Claims filter on crashes: in the index, the claim still reads the index alone.
    op.drop_index("ix_action_run_status_due_at", table_name="action_run")
    op.create_index(
        "ix_action_run_status_due_at_crashes", "action_run", ["status", "due_at", "crashes"]
    )
    op.create_table(
        "action_release",
        sa.Column("id", _bigint(), nullable=False),
        sa.Column(
            "action_run_id",
            _bigint(),
            sa.ForeignKey(
                "action_run.id",
                ondelete="CASCADE",
                name=op.f("fk_action_release_action_run_id_action_run"),
            ),
            nullable=False,
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operator", sa.String(128), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("from_status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_release")),
    )
    op.create_index("ix_action_release_action_run_id", "action_release", ["action_run_id"])


def downgrade() -> None:
    op.drop_index("ix_action_release_action_run_id", table_name="action_release")
    op.drop_table("action_release")
    op.drop_index("ix_action_run_status_due_at_crashes", table_name="action_run")
    op.create_index("ix_action_run_status_due_at", "action_run", ["status", "due_at"])
    op.execute("UPDATE action_run SET status = 'failed' WHERE status = 'quarantined'")
    _set_statuses(_OLD)
    op.drop_column("action_run", "preparing_since")
    op.drop_column("action_run", "crashes")
