"""conflict notices and status changes

Revision ID: 0006_conflicts
Revises: 0005_taxonomy
Create Date: 2026-11-27 07:04:48.143249
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_conflicts"
down_revision: str | None = "0005_taxonomy"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "conflict_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conflict_id", sa.String(length=64), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=100), nullable=False),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("channels", sa.String(length=32), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("email_to", sa.Text(), nullable=True),
        sa.Column("email_error", sa.Text(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["read_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conflict_id", "organisation_id", name="uq_conflict_notices_party"),
    )
    with op.batch_alter_table("conflict_notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_conflict_notices_conflict_id"), ["conflict_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_conflict_notices_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "conflict_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conflict_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("by_user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_user_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("conflict_status_changes", schema=None) as batch_op:
        batch_op.create_index("ix_conflict_status_changes_conflict_at", ["conflict_id", "at"], unique=False)


def downgrade() -> None:

    with op.batch_alter_table("conflict_status_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_conflict_status_changes_conflict_at")

    op.drop_table("conflict_status_changes")
    with op.batch_alter_table("conflict_notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conflict_notices_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_conflict_notices_conflict_id"))

    op.drop_table("conflict_notices")
