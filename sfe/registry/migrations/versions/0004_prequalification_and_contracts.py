"""prequalification dossiers, applications, contract templates and contracts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 06:02:50
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "contract_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("product_id"),
    )
    with op.batch_alter_table("contract_templates", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_templates_operator_id"), ["operator_id"], unique=False)

    op.create_table(
        "contract_template_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("template_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("standard_terms", sa.JSON(), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(["template_id"], ["contract_templates.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("template_id", "version", name="uq_contract_template_versions_version"),
    )
    with op.batch_alter_table("contract_template_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_template_versions_template_id"), ["template_id"], unique=False
        )

    op.create_table(
        "prequal_dossiers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=True),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(asset_id IS NULL) <> (group_id IS NULL)", name="ck_prequal_dossiers_one_subject"
        ),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["assets.id"],
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["asset_groups.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_id"),
        sa.UniqueConstraint("group_id"),
    )
    with op.batch_alter_table("prequal_dossiers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prequal_dossiers_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "prequal_applications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("dossier_version", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("product_name", sa.String(length=200), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.Column("rules_decision", sa.String(length=32), nullable=False),
        sa.Column("rules_verdicts", sa.JSON(), nullable=False),
        sa.Column("rules_request_id", sa.String(length=32), nullable=True),
        sa.Column("submitted_by_id", sa.Integer(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reviewer_id", sa.Integer(), nullable=True),
        sa.Column("review_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_reasons", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["dossier_id"],
            ["prequal_dossiers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["reviewer_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["submitted_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prequal_applications", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prequal_applications_dossier_id"), ["dossier_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_prequal_applications_operator_id"), ["operator_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_prequal_applications_organisation_id"), ["organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_prequal_applications_product_id"), ["product_id"], unique=False)
        batch_op.create_index(
            "uq_prequal_applications_open",
            ["dossier_id", "product_id"],
            unique=True,
            sqlite_where=sa.text("status IN ('submitted', 'under_review', 'prequalified')"),
            postgresql_where=sa.text("status IN ('submitted', 'under_review', 'prequalified')"),
        )

    op.create_table(
        "prequal_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("original_name", sa.String(length=255), nullable=False),
        sa.Column("uploaded_by_id", sa.Integer(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["dossier_id"], ["prequal_dossiers.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prequal_documents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_prequal_documents_dossier_id"), ["dossier_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_prequal_documents_sha256"), ["sha256"], unique=False)

    op.create_table(
        "prequal_dossier_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dossier_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("technical", sa.JSON(), nullable=False),
        sa.Column("metering", sa.JSON(), nullable=False),
        sa.Column("tests", sa.JSON(), nullable=False),
        sa.Column("change_note", sa.Text(), nullable=True),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(["dossier_id"], ["prequal_dossiers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dossier_id", "version", name="uq_prequal_dossier_versions_version"),
    )
    with op.batch_alter_table("prequal_dossier_versions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prequal_dossier_versions_dossier_id"), ["dossier_id"], unique=False
        )

    op.create_table(
        "contracts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=True),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("operator_id", sa.String(length=32), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["application_id"],
            ["prequal_applications.id"],
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("application_id"),
        sa.UniqueConstraint("reference"),
    )
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contracts_operator_id"), ["operator_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contracts_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_contracts_product_id"), ["product_id"], unique=False)

    op.create_table(
        "prequal_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("application_id", sa.Integer(), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by_user_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["application_id"], ["prequal_applications.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["by_user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prequal_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_prequal_status_changes_application_id"), ["application_id"], unique=False
        )

    op.create_table(
        "contract_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("template_version_id", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("html", sa.Text(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.Column("generated_by_id", sa.Integer(), nullable=True),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("executed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["contract_id"], ["contracts.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["generated_by_id"],
            ["users.id"],
        ),
        sa.ForeignKeyConstraint(
            ["template_version_id"],
            ["contract_template_versions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_id", "version", name="uq_contract_versions_version"),
    )
    with op.batch_alter_table("contract_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_contract_versions_contract_id"), ["contract_id"], unique=False)

    op.create_table(
        "contract_acceptances",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contract_version_id", sa.Integer(), nullable=False),
        sa.Column("party", sa.String(length=8), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("content_sha256", sa.String(length=64), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contract_version_id"], ["contract_versions.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("contract_version_id", "party", name="uq_contract_acceptances_party"),
    )
    with op.batch_alter_table("contract_acceptances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contract_acceptances_contract_version_id"), ["contract_version_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("contract_acceptances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_acceptances_contract_version_id"))

    op.drop_table("contract_acceptances")
    with op.batch_alter_table("contract_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_versions_contract_id"))

    op.drop_table("contract_versions")
    with op.batch_alter_table("prequal_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prequal_status_changes_application_id"))

    op.drop_table("prequal_status_changes")
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contracts_product_id"))
        batch_op.drop_index(batch_op.f("ix_contracts_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_contracts_operator_id"))

    op.drop_table("contracts")
    with op.batch_alter_table("prequal_dossier_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prequal_dossier_versions_dossier_id"))

    op.drop_table("prequal_dossier_versions")
    with op.batch_alter_table("prequal_documents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prequal_documents_sha256"))
        batch_op.drop_index(batch_op.f("ix_prequal_documents_dossier_id"))

    op.drop_table("prequal_documents")
    with op.batch_alter_table("prequal_applications", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_prequal_applications_open",
            sqlite_where=sa.text("status IN ('submitted', 'under_review', 'prequalified')"),
            postgresql_where=sa.text("status IN ('submitted', 'under_review', 'prequalified')"),
        )
        batch_op.drop_index(batch_op.f("ix_prequal_applications_product_id"))
        batch_op.drop_index(batch_op.f("ix_prequal_applications_organisation_id"))
        batch_op.drop_index(batch_op.f("ix_prequal_applications_operator_id"))
        batch_op.drop_index(batch_op.f("ix_prequal_applications_dossier_id"))

    op.drop_table("prequal_applications")
    with op.batch_alter_table("prequal_dossiers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prequal_dossiers_organisation_id"))

    op.drop_table("prequal_dossiers")
    with op.batch_alter_table("contract_template_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_template_versions_template_id"))

    op.drop_table("contract_template_versions")
    with op.batch_alter_table("contract_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contract_templates_operator_id"))

    op.drop_table("contract_templates")
