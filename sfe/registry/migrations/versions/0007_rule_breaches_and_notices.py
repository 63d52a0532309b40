"""rules judged on arrival (checks, breaches) and the organisation inbox (notices)

Revision ID: 0007_breaches_notices
Revises: 0006_conflicts
Create Date: 2026-11-27 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_breaches_notices"
down_revision: str | None = "0006_conflicts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "rule_arrival_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("activity_key", sa.String(length=400), nullable=False),
        sa.Column("registry_asset_id", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("activity_kind", sa.String(length=16), nullable=False),
        sa.Column("activity_type", sa.String(length=32), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=True),
        sa.Column("source_ref", sa.String(length=200), nullable=True),
        sa.Column("start_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_utc", sa.DateTime(timezone=True), nullable=False),
        sa.Column("power_mw", sa.Float(), nullable=True),
        sa.Column("decision", sa.String(length=32), nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=True),
        sa.Column("evaluated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("activity_key"),
    )
    with op.batch_alter_table("rule_arrival_checks", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_rule_arrival_checks_registry_asset_id"), ["registry_asset_id"], unique=False
        )

    op.create_table(
        "rule_breaches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("check_id", sa.Integer(), nullable=False),
        sa.Column("registry_asset_id", sa.String(length=16), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=False),
        sa.Column("rule_name", sa.String(length=200), nullable=False),
        sa.Column("rule_kind", sa.String(length=32), nullable=False),
        sa.Column("rule_mode", sa.String(length=8), nullable=False),
        sa.Column("rule_version", sa.Integer(), nullable=True),
        sa.Column("severity", sa.String(length=8), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["check_id"], ["rule_arrival_checks.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("check_id", "rule_id", name="uq_rule_breaches_rule"),
    )
    with op.batch_alter_table("rule_breaches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rule_breaches_check_id"), ["check_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_rule_breaches_product_id"), ["product_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_rule_breaches_registry_asset_id"), ["registry_asset_id"], unique=False
        )

    op.create_table(
        "notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=32), nullable=False),
        sa.Column("topic_key", sa.String(length=128), nullable=False),
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
        sa.ForeignKeyConstraint(["organisation_id"], ["organisations.id"]),
        sa.ForeignKeyConstraint(["read_by_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("topic", "topic_key", "organisation_id", name="uq_notices_party"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_organisation_id"), ["organisation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_organisation_id"))
    op.drop_table("notices")
    with op.batch_alter_table("rule_breaches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_breaches_registry_asset_id"))
        batch_op.drop_index(batch_op.f("ix_rule_breaches_product_id"))
        batch_op.drop_index(batch_op.f("ix_rule_breaches_check_id"))
    op.drop_table("rule_breaches")
    with op.batch_alter_table("rule_arrival_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rule_arrival_checks_registry_asset_id"))
    op.drop_table("rule_arrival_checks")
