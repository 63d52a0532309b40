"""rules engine (product rules, their versions, external rules endpoints) and the market rules library

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 05:17:33.115473
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "library_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=100), nullable=False),
        sa.Column("market_id", sa.String(length=32), nullable=True),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("doc_type", sa.String(length=32), nullable=False),
        sa.Column("publisher", sa.String(length=200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("slug"),
    )
    with op.batch_alter_table("library_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_library_documents_market_id"), ["market_id"], unique=False)

    op.create_table(
        "product_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("product_rules", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_rules_product_id"), ["product_id"], unique=False)

    op.create_table(
        "product_rules_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("url", sa.String(length=500), nullable=False),
        sa.Column("timeout_s", sa.Float(), nullable=False),
        sa.Column("failure_mode", sa.String(length=8), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("product_id"),
    )
    op.create_table(
        "library_document_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("source_url", sa.String(length=500), nullable=True),
        sa.Column("change_note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(["document_id"], ["library_documents.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("document_id", "version", name="uq_library_document_versions_version"),
    )
    with op.batch_alter_table("library_document_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_library_document_versions_document_id"), ["document_id"], unique=False
        )

    op.create_table(
        "product_rule_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("source_url", sa.String(length=500), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=True),
        sa.Column("changed_by_id", sa.Integer(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["changed_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(["rule_id"], ["product_rules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule_id", "version", name="uq_product_rule_versions_version"),
    )
    with op.batch_alter_table("product_rule_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_product_rule_versions_rule_id"), ["rule_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("product_rule_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_rule_versions_rule_id"))

    op.drop_table("product_rule_versions")
    with op.batch_alter_table("library_document_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_library_document_versions_document_id"))

    op.drop_table("library_document_versions")
    op.drop_table("product_rules_endpoints")
    with op.batch_alter_table("product_rules", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_product_rules_product_id"))

    op.drop_table("product_rules")
    with op.batch_alter_table("library_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_library_documents_market_id"))

    op.drop_table("library_documents")
