"""People: proof of consent, and the list of erased people.

`consent_change` gains what a regulator asks for beyond source, time and IP: the
purpose the consent was given for, the system that recorded it, and the wording shown
(or its version). `erased_identity` keeps a keyed hash (HMAC-SHA256) of an erased
customer's id, address and number, so that a later event or import does not create
and message them again; it holds no personal data.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KINDS = ("external_id", "email", "phone")


def _bigint() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # Nullable columns: a plain ADD COLUMN on both databases, no table rebuild.
    op.add_column("consent_change", sa.Column("purpose", sa.String(32), nullable=True))
    op.add_column("consent_change", sa.Column("system", sa.String(128), nullable=True))
    op.add_column("consent_change", sa.Column("wording", sa.Text(), nullable=True))
    op.create_table(
        "erased_identity",
        sa.Column("id", _bigint(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erased_identity")),
        sa.UniqueConstraint("kind", "digest", name=op.f("uq_erased_identity_kind_digest")),
        sa.CheckConstraint(
            f"kind IN ({', '.join(repr(k) for k in _KINDS)})",
            name=op.f("ck_erased_identity_kind"),
        ),
    )


def downgrade() -> None:
    op.drop_table("erased_identity")
    with op.batch_alter_table("consent_change") as batch:
        batch.drop_column("wording")
        batch.drop_column("system")
        batch.drop_column("purpose")
