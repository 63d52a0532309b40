"""assets: retirement; asset groups: one open membership per (group, asset)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("asset_group_memberships", schema=None) as batch_op:
        batch_op.create_index(
            "uq_asset_group_memberships_current",
            ["group_id", "asset_id"],
            unique=True,
            sqlite_where=sa.text("valid_to IS NULL"),
            postgresql_where=sa.text("valid_to IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("asset_group_memberships", schema=None) as batch_op:
        batch_op.drop_index("uq_asset_group_memberships_current")
    with op.batch_alter_table("assets", schema=None) as batch_op:
        batch_op.drop_column("retired_at")
